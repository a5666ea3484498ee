import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DomainError, notFound } from '../common/errors';
import { InjectLogger } from '../common/logger.module';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import type { StoredEvent } from '../events/events.repository';
import { EventsRelay } from '../events/events-relay.service';
import { uriOfEvent } from './mcp-resources';

/**
 * A session carries only resource subscriptions (tool calls, reads and prompts are stateless),
 * but it belongs to the principal that opened it: any other credential presenting its id is told
 * the session does not exist.
 */
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
/** Ids of sessions closed here (DELETE, or over the per-principal cap) that keep answering 404. */
const MAX_REMEMBERED_CLOSED = 10_000;
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
  /** Insertion-ordered, oldest dropped first. */
  private readonly closed = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
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

  /**
   * Opens session `id` for `owner` at initialize. A principal holds at most
   * MCP_MAX_SESSIONS_PER_PRINCIPAL: past it the one it used least recently without an open stream
   * is closed (a client that never sends DELETE keeps working); when every one has a stream open,
   * the new one is refused with 429.
   */
  open(id: string, owner: string): void {
    const mine = [...this.sessions.values()].filter((s) => s.owner === owner);
    if (mine.length >= this.config.mcpMaxSessionsPerPrincipal) {
      const idle = mine.filter((s) => !s.stream).sort((a, b) => a.touchedAt - b.touchedAt);
      if (!idle.length) {
        throw new DomainError('rate_limited', `At most ${this.config.mcpMaxSessionsPerPrincipal} MCP sessions per credential; close one first`, {}, 60);
      }
      for (const s of idle.slice(0, mine.length - this.config.mcpMaxSessionsPerPrincipal + 1)) this.close(s.id);
    }
    this.session(id, owner);
  }

  /** Refuses (404) a session id that another principal opened on this instance; marks it used. */
  use(id: string, owner: string): void {
    this.session(id, owner);
  }

  /**
   * The session `id`, bound to `owner`. Another owner, or a session closed here, gets 404. An id
   * this instance has not seen (opened on another instance, or forgotten while idle) is taken up
   * for `owner`: session state lives on one instance (sticky routing), which enforces its owner.
   */
  private session(id: string, owner: string): McpSession {
    let session = this.sessions.get(id);
    if ((session && session.owner !== owner) || this.closed.has(id)) throw notFound('MCP session', id);
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
    if (!session) return;
    if (session.owner !== owner) throw notFound('MCP session', id);
    this.close(id);
    await session.stream?.transport.close();
  }

  private close(id: string): void {
    this.sessions.delete(id);
    this.closed.add(id);
    if (this.closed.size > MAX_REMEMBERED_CLOSED) this.closed.delete(this.closed.values().next().value as string);
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
