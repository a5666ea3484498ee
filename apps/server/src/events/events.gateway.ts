import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import { EVENT_CHANNELS, type EventChannel } from '../../../../libs/contracts/src';
import { AuthenticationService } from '../auth/authentication.service';
import type { Principal } from '../auth/principal';
import { DomainError } from '../common/errors';
import { InjectLogger } from '../common/logger.module';
import { RequestContextStore } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { matches, mayUseChannel, mayView, viewerFor, type EventViewer, type Subscription } from './event-access';
import { EventsRelay } from './events-relay.service';
import { EventsRepository, type StoredEvent } from './events.repository';

interface SocketState {
  token: string;
  principal: Principal;
  viewer: EventViewer;
  subscriptions: Map<string, Subscription>;
  ownedAgents: Set<string>;
  timers: NodeJS.Timeout[];
}

const key = (s: Subscription) => `${s.channel}:${s.id ?? '*'}`;

/** Seconds until a JWT's `exp`, or null for credentials without one (API keys). */
function secondsToExpiry(token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp - Date.now() / 1000 : null;
  } catch {
    return null;
  }
}

/**
 * Socket.IO: the handshake authenticates `auth.token` (JWT or API key) through the same
 * AuthenticationService as REST; clients `subscribe`/`unsubscribe` to channels (with acks), and
 * receive each relayed event they may see, named by its `type`, with its `seq`. A socket is cut
 * when its token expires, when its credential stops working (re-checked periodically), or when
 * it reads too slowly for its buffer.
 */
@WebSocketGateway({ serveClient: false })
export class EventsGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, BeforeApplicationShutdown {
  @WebSocketServer() server: Server;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
    private readonly authentication: AuthenticationService,
    private readonly relay: EventsRelay,
    private readonly events: EventsRepository,
  ) {}

  afterInit(server: Server): void {
    server.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      const context = { requestId: socket.id, ip: socket.handshake.address ?? null, userAgent: socket.handshake.headers['user-agent'] ?? null, via: 'socket' };
      RequestContextStore.run(context, () => {
        this.authentication
          .authenticate(typeof token === 'string' ? token : undefined)
          .then(async (principal) => {
            const viewer = viewerFor(principal);
            if (!viewer) return next(new Error('forbidden: this credential may not read events'));
            const owned = viewer.scope === 'own' ? await this.events.ownedAgentIds(viewer.owner) : [];
            const state: SocketState = {
              token: token as string,
              principal,
              viewer,
              subscriptions: new Map(),
              ownedAgents: new Set(owned),
              timers: [],
            };
            socket.data = state;
            next();
          })
          .catch((err: unknown) => {
            next(new Error(err instanceof DomainError && err.code === 'unauthenticated' ? `unauthorized: ${err.message}` : 'unavailable'));
          });
      });
    });
    this.relay.subscribe((batch) => this.broadcast(batch));
  }

  handleConnection(socket: Socket): void {
    const state = socket.data as SocketState;
    const expiresIn = secondsToExpiry(state.token);
    if (expiresIn !== null) {
      state.timers.push(setTimeout(() => this.cut(socket, 'token_expired', 'The access token expired'), Math.max(0, expiresIn * 1000)));
    }
    // A disabled user or a revoked key loses its socket within one interval.
    const recheck = setInterval(() => {
      this.authentication.authenticate(state.token).catch((err: unknown) => {
        if (err instanceof DomainError && err.code === 'unauthenticated') this.cut(socket, 'credential_revoked', err.message);
      });
    }, this.config.socketReauthIntervalMs);
    state.timers.push(recheck);
  }

  handleDisconnect(socket: Socket): void {
    const state = socket.data as SocketState | undefined;
    for (const timer of state?.timers ?? []) clearTimeout(timer);
  }

  @SubscribeMessage('subscribe')
  subscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): { ok: true } | { ok: false; error: string } {
    const state = socket.data as SocketState;
    const sub = parseSubscription(body);
    if (typeof sub === 'string') return { ok: false, error: sub };
    if (!mayUseChannel(state.viewer, sub.channel)) return { ok: false, error: `forbidden: you may not read the ${sub.channel} channel` };
    state.subscriptions.set(key(sub), sub);
    return { ok: true };
  }

  @SubscribeMessage('unsubscribe')
  unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): { ok: true } | { ok: false; error: string } {
    const state = socket.data as SocketState;
    const sub = parseSubscription(body);
    if (typeof sub === 'string') return { ok: false, error: sub };
    state.subscriptions.delete(key(sub));
    return { ok: true };
  }

  /** Shutdown: every socket is told why (an `error` event with code server_shutdown), then disconnected. */
  beforeApplicationShutdown(): void {
    this.closeAll('server_shutdown', 'The server is shutting down; reconnect to continue');
  }

  closeAll(code: string, message: string): void {
    for (const socket of this.server?.sockets.sockets.values() ?? []) this.cut(socket, code, message);
  }

  /** Connected sockets on this instance (for metrics). */
  get connected(): number {
    return this.server?.sockets.sockets.size ?? 0;
  }

  private broadcast(batch: StoredEvent[]): void {
    for (const socket of this.server.sockets.sockets.values()) {
      const state = socket.data as SocketState | undefined;
      if (!state || state.subscriptions.size === 0) continue;
      for (const event of batch) {
        if (state.viewer.scope === 'own' && event.type === 'agent_update' && event.agent_owner === state.viewer.owner && event.agent_id) {
          state.ownedAgents.add(event.agent_id);
        }
        if (!mayView(state.viewer, event, state.ownedAgents)) continue;
        let wanted = false;
        for (const sub of state.subscriptions.values()) if ((wanted = matches(sub, event))) break;
        if (!wanted) continue;
        const buffered = (socket.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0;
        if (buffered > this.config.socketMaxBufferedEvents) {
          this.cut(socket, 'slow_consumer', `More than ${this.config.socketMaxBufferedEvents} events were waiting to be sent`);
          break;
        }
        socket.emit(event.type, { ...event.payload, seq: Number(event.seq) });
      }
    }
  }

  /** Tells the client why, then disconnects it. */
  private cut(socket: Socket, code: string, message: string): void {
    if (!socket.connected) return;
    this.logger.info({ socket_id: socket.id, code }, 'disconnecting socket');
    socket.emit('error', { type: 'error', error: code, details: { code, message }, timestamp: new Date().toISOString() });
    socket.disconnect(true);
  }
}

function parseSubscription(body: unknown): Subscription | string {
  if (!body || typeof body !== 'object') return 'validation_failed: expected {channel, id?}';
  const { channel, id } = body as { channel?: unknown; id?: unknown };
  if (typeof channel !== 'string' || !(EVENT_CHANNELS as readonly string[]).includes(channel)) {
    return `validation_failed: channel must be one of ${EVENT_CHANNELS.join(', ')}`;
  }
  if (id !== undefined && (typeof id !== 'string' || id.length > 200)) return 'validation_failed: id must be a string';
  return { channel: channel as EventChannel, ...(id ? { id } : {}) };
}
