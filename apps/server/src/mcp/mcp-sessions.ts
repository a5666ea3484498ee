import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DomainError, notFound } from '../common/errors';
import { InjectLogger } from '../common/logger.module';
import type { StoredEvent } from '../events/events.repository';
import { EventsRelay } from '../events/events-relay.service';
import { uriOfEvent } from './mcp-resources';

/** A session exists only for resource subscriptions: tool calls, reads and prompts are stateless. */
interface McpSession {
  id: string;
  owner: string;
  uris: Set<string>;
  /** The GET stream notifications go out on, when the client holds one open on this instance. */
  stream?: { server: Server; transport: StreamableHTTPServerTransport };
  touchedAt: number;
}

const MAX_SESSIONS = 10_000;
const MAX_URIS_PER_SESSION = 1_000;
/** A session with subscriptions but no open stream is forgotten after this long. */
const IDLE_MS = 10 * 60_000;

/**
 * Per-instance subscription state, keyed by the Mcp-Session-Id minted at initialize. The relay
 * hands this instance every committed event once; an event about a subscribed object becomes
 * notifications/resources/updated on that session's GET stream. The subscribe call and the GET
 * stream must reach the same instance (see README: sticky by Mcp-Session-Id for those only).
 */
@Injectable()
export class McpSessions implements OnModuleInit, OnApplicationShutdown {
  private readonly sessions = new Map<string, McpSession>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly relay: EventsRelay,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.relay.subscribe((batch) => this.deliver(batch));
    this.timer = setInterval(() => this.forgetIdle(), 60_000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    await Promise.all([...this.sessions.values()].map(async (s) => s.stream?.transport.close()));
    this.sessions.clear();
  }

  /** The session `id`, created on first use and bound to the credential owner that first used it. */
  private session(id: string, owner: string): McpSession {
    let session = this.sessions.get(id);
    if (session && session.owner !== owner) throw notFound('MCP session', id);
    if (!session) {
      if (this.sessions.size >= MAX_SESSIONS) throw new DomainError('service_unavailable', 'Too many MCP sessions on this instance', {}, 5);
      session = { id, owner, uris: new Set(), touchedAt: Date.now() };
      this.sessions.set(id, session);
    }
    session.touchedAt = Date.now();
    return session;
  }

  subscribe(id: string, owner: string, uri: string): void {
    const session = this.session(id, owner);
    if (!session.uris.has(uri) && session.uris.size >= MAX_URIS_PER_SESSION) {
      throw new DomainError('rate_limited', `A session may watch at most ${MAX_URIS_PER_SESSION} resources`);
    }
    session.uris.add(uri);
  }

  unsubscribeUri(id: string, owner: string, uri: string): void {
    this.session(id, owner).uris.delete(uri);
  }

  /** Attaches the session's GET stream; a new GET replaces an older one. */
  async attach(id: string, owner: string, server: Server, transport: StreamableHTTPServerTransport): Promise<void> {
    const session = this.session(id, owner);
    const old = session.stream;
    session.stream = { server, transport };
    if (old) await old.transport.close();
  }

  /** The GET stream closed: keep the subscriptions a while, so the client can reconnect. */
  detach(id: string, transport: StreamableHTTPServerTransport): void {
    const session = this.sessions.get(id);
    if (session?.stream?.transport !== transport) return;
    session.stream = undefined;
    session.touchedAt = Date.now();
  }

  /** DELETE /mcp: forgets the session (idempotent; a session this instance never saw has nothing to forget). */
  async end(id: string, owner: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session || session.owner !== owner) return;
    this.sessions.delete(id);
    await session.stream?.transport.close();
  }

  /** Test and health hook: does this instance hold an open stream for the session. */
  hasStream(id: string): boolean {
    return this.sessions.get(id)?.stream !== undefined;
  }

  private deliver(batch: StoredEvent[]): void {
    if (this.sessions.size === 0) return;
    const changed = new Set<string>();
    for (const event of batch) {
      const uri = uriOfEvent(event);
      if (uri) changed.add(uri);
    }
    for (const session of this.sessions.values()) {
      if (!session.stream) continue;
      const { server } = session.stream;
      for (const uri of changed) {
        if (!session.uris.has(uri)) continue;
        server.sendResourceUpdated({ uri }).catch((err: unknown) => this.logger.debug({ err, session: session.id }, 'MCP notification not delivered'));
      }
    }
  }

  private forgetIdle(): void {
    const cutoff = Date.now() - IDLE_MS;
    for (const [id, session] of this.sessions) if (!session.stream && session.touchedAt < cutoff) this.sessions.delete(id);
  }
}
