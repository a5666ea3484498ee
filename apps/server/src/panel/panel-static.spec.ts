import { isReservedPath, PANEL_CSP } from './panel-static';

describe('panel static serving', () => {
  it('never shadows the API, docs, probes, metrics, Socket.IO or MCP', () => {
    for (const p of ['/api/v1/tasks', '/docs', '/docs/', '/docs-json', '/health/live', '/metrics', '/socket.io/', '/mcp']) {
      expect({ p, reserved: isReservedPath(p) }).toEqual({ p, reserved: true });
    }
  });

  it('serves client-side routes such as /tasks and /agents/123', () => {
    for (const p of ['/', '/tasks', '/agents/123', '/locks', '/admin', '/metricsboard']) {
      expect({ p, reserved: isReservedPath(p) }).toEqual({ p, reserved: false });
    }
  });

  it('allows only same-origin scripts and connections', () => {
    expect(PANEL_CSP).toContain("script-src 'self'");
    expect(PANEL_CSP).toContain("connect-src 'self'");
    expect(PANEL_CSP).not.toContain('unsafe-inline');
  });
});
