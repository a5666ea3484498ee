import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import type { EventsRelay } from '../events/events-relay.service';
import { McpSessions } from './mcp-sessions';

function sessions(cap: number): McpSessions {
  return new McpSessions({ mcpMaxSessionsPerPrincipal: cap } as AppConfig, {} as EventsRelay, {} as Logger);
}

const stream = () => ({ server: {} as Server, transport: { close: () => Promise.resolve() } as unknown as StreamableHTTPServerTransport });

describe('McpSessions', () => {
  it('binds a session to the principal that opened it', async () => {
    const s = sessions(4);
    s.open('s1', 'user:a');
    expect(() => s.use('s1', 'user:a')).not.toThrow();
    expect(() => s.use('s1', 'user:b')).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => s.subscribe('s1', 'user:b', 'agentmanager://tasks/x')).toThrow(expect.objectContaining({ code: 'not_found' }));
    await expect(s.end('s1', 'user:b')).rejects.toMatchObject({ code: 'not_found' });
    await s.end('s1', 'user:a');
    expect(() => s.use('s1', 'user:a')).toThrow(expect.objectContaining({ code: 'not_found' }));
  });

  it('past the cap closes the least recently used session without a stream, and refuses when all stream', async () => {
    const s = sessions(2);
    s.open('old', 'user:a');
    s.open('streaming', 'user:a');
    await s.attach('streaming', 'user:a', stream().server, stream().transport);
    s.open('other-principal', 'user:b');
    s.open('new', 'user:a');
    expect(() => s.use('old', 'user:a')).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => s.use('other-principal', 'user:b')).not.toThrow();

    await s.attach('new', 'user:a', stream().server, stream().transport);
    expect(() => s.open('one-more', 'user:a')).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    expect(s.hasStream('streaming') && s.hasStream('new')).toBe(true);
  });
});
