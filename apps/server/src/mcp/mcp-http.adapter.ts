import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { ownerOf, type Principal } from '../access/principal';
import { abortOnClose } from '../common/client-abort';
import { validationFailed } from '../common/errors';
import { RequestContextStore } from '../common/request-context';
import { type McpCallContext,McpService } from './mcp.service';
import { McpSessions } from './mcp-sessions';

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isInitialize(body: unknown): boolean {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  return messages.some((m) => !!m && typeof m === 'object' && (m as { method?: unknown }).method === 'initialize');
}

/**
 * The one place that hands Express's req/res to the MCP SDK transport (the controller stays a
 * one-liner). Every POST gets a fresh server + stateless transport, so any instance can serve any
 * call. A session id is minted at initialize only so resource subscriptions and the GET stream
 * that carries their notifications can find each other.
 */
@Injectable()
export class McpHttpAdapter {
  constructor(
    private readonly mcp: McpService,
    private readonly sessions: McpSessions,
  ) {}

  async post(principal: Principal, req: Request, res: Response): Promise<void> {
    let sessionId = this.sessionId(req);
    if (sessionId) {
      this.sessions.use(sessionId, ownerOf(principal));
    } else if (isInitialize(req.body)) {
      sessionId = randomUUID();
      this.sessions.open(sessionId, ownerOf(principal));
      res.setHeader('Mcp-Session-Id', sessionId);
    }
    const server = this.mcp.createServer(this.context(principal, req, sessionId));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  }

  /** The session's notification stream (resources/updated), held open on this instance. */
  async get(principal: Principal, req: Request, res: Response): Promise<void> {
    const sessionId = this.sessionId(req);
    if (!sessionId) {
      // The spec's answer for "no server-initiated stream here"; clients then carry on without one.
      res.status(405).setHeader('Allow', 'POST, DELETE').end();
      return;
    }
    const server = this.mcp.createServer(this.context(principal, req, sessionId));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await this.sessions.attach(sessionId, ownerOf(principal), server, transport);
    res.on('close', () => {
      this.sessions.detach(sessionId, transport);
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }

  async delete(principal: Principal, req: Request, res: Response): Promise<void> {
    const sessionId = this.sessionId(req);
    if (sessionId) await this.sessions.end(sessionId, ownerOf(principal));
    res.status(204).end();
  }

  private sessionId(req: Request): string | undefined {
    const value = req.headers['mcp-session-id'];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !SESSION_ID.test(value)) {
      throw validationFailed([{ field: 'Mcp-Session-Id', errors: ['Mcp-Session-Id must be the id the server returned on initialize'] }]);
    }
    return value;
  }

  private context(principal: Principal, req: Request, sessionId: string | undefined): McpCallContext {
    const current = RequestContextStore.current();
    return {
      principal,
      sessionId,
      clientGone: abortOnClose(req),
      request: {
        requestId: current?.requestId ?? (req as Request & { id?: string }).id ?? randomUUID(),
        ip: current?.ip ?? req.ip ?? null,
        userAgent: current?.userAgent ?? req.headers['user-agent'] ?? null,
        via: 'mcp',
      },
    };
  }
}
