import type { BeforeApplicationShutdown } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import { EVENT_CHANNELS, type EventChannel } from '@agentmanager/contracts';
import { AuthenticationService } from '../auth/authentication.service';
import { DomainError } from '../common/errors';
import { InjectLogger } from '../common/logger.module';
import { RequestContextStore } from '../common/request-context';
import { TokenBucket } from '../common/token-bucket';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import { AgentOwners } from './agent-owners';
import { eventRooms, type EventViewer, mayUseChannel, narrowed, type RoutableEvent, type Subscription, subscriptionRooms, viewerFor } from './event-access';
import { EventsRepository } from './events.repository';
import { EventsRelay } from './events-relay.service';

interface SocketState {
  token: string;
  viewer: EventViewer;
  /** The owner's agents at the handshake (agent-scoped viewers), handed to AgentOwners on connect. */
  ownedAgents: string[];
  subscriptions: Map<string, Subscription>;
  timers: NodeJS.Timeout[];
  slow: boolean;
  /** Messages this socket may still send (SOCKET_MESSAGES_PER_SEC, SOCKET_MESSAGE_BURST). */
  messages: TokenBucket;
  /** Messages refused in a row for the rate; more than a burst of them and the socket is cut. */
  refusedInARow: number;
}

type Ack = { ok: true } | { ok: false; error: string };

/** Packets engine.io has queued for a socket and not yet written (private in its typings). */
const queued = (socket: Socket): number => (socket.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length;

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
 * receive each relayed event they may see, named by its `type`, with its `seq`. A subscription
 * joins only rooms the viewer may see (event-access.ts), so an event is encoded once and sent to
 * its rooms without looking at any socket, at a cost that does not grow with how many
 * subscriptions sockets hold. A socket holds at most SOCKET_MAX_SUBSCRIPTIONS and its messages go
 * through a token bucket. It is cut when its token expires, when its credential stops working or
 * what it may see narrows (re-checked periodically), when it floods, or when it reads too slowly.
 */
@WebSocketGateway({ serveClient: false })
export class EventsGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, BeforeApplicationShutdown {
  @WebSocketServer() server: Server;
  private readonly owners = new AgentOwners();

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
    private readonly authentication: AuthenticationService,
    private readonly relay: EventsRelay,
    private readonly events: EventsRepository,
    private readonly metrics: MetricsService,
  ) {}

  afterInit(server: Server): void {
    this.metrics.onScrape(() => this.metrics.sockets.set(this.connected));
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
              viewer,
              ownedAgents: owned,
              subscriptions: new Map(),
              timers: [],
              slow: false,
              messages: new TokenBucket(this.config.socketMessagesPerSec, this.config.socketMessageBurst),
              refusedInARow: 0,
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
    if (state.viewer.scope === 'own') this.owners.retain(state.viewer.owner, state.ownedAgents);
    // A reader too slow for its events leaves them queued in engine.io; checked as each packet is
    // queued, so fan-out never walks the sockets. Cut after the broadcast under way, not inside it.
    socket.conn.on('packetCreate', () => {
      if (state.slow || queued(socket) <= this.config.socketMaxBufferedEvents) return;
      state.slow = true;
      queueMicrotask(() => this.cut(socket, 'slow_consumer', `More than ${this.config.socketMaxBufferedEvents} events were waiting to be sent`));
    });
    socket.use((packet, next) => this.admit(socket, state, packet, next));
    const expiresIn = secondsToExpiry(state.token);
    if (expiresIn !== null) {
      state.timers.push(setTimeout(() => this.cut(socket, 'token_expired', 'The access token expired'), Math.max(0, expiresIn * 1000)));
    }
    // A disabled user, a revoked key or a narrowed role loses its socket within one interval.
    const recheck = setInterval(() => void this.recheck(socket, state), this.config.socketReauthIntervalMs);
    state.timers.push(recheck);
  }

  handleDisconnect(socket: Socket): void {
    const state = socket.data as SocketState;
    for (const timer of state.timers) clearTimeout(timer);
    if (state.viewer.scope === 'own') this.owners.release(state.viewer.owner);
  }

  @SubscribeMessage('subscribe')
  subscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): Ack {
    const state = socket.data as SocketState;
    const sub = parseSubscription(body);
    if (typeof sub === 'string') return { ok: false, error: sub };
    if (!mayUseChannel(state.viewer, sub.channel)) return { ok: false, error: `forbidden: you may not read the ${sub.channel} channel` };
    const max = this.config.socketMaxSubscriptions;
    if (!state.subscriptions.has(key(sub)) && state.subscriptions.size >= max) {
      return { ok: false, error: `too_many_subscriptions: at most ${max} per socket; unsubscribe first` };
    }
    state.subscriptions.set(key(sub), sub);
    this.joinSubscribed(socket, state);
    return { ok: true };
  }

  @SubscribeMessage('unsubscribe')
  unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): Ack {
    const state = socket.data as SocketState;
    const sub = parseSubscription(body);
    if (typeof sub === 'string') return { ok: false, error: sub };
    state.subscriptions.delete(key(sub));
    this.joinSubscribed(socket, state);
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

  /**
   * Every incoming message spends a token of the socket's bucket. Without one it is not handled:
   * its ack (if it asked for one) says `rate_limited`; a client that keeps sending through more
   * than a burst of refusals is disconnected.
   */
  private admit(socket: Socket, state: SocketState, packet: unknown[], next: (err?: Error) => void): void {
    if (state.messages.take()) {
      state.refusedInARow = 0;
      return next();
    }
    const ack = packet[packet.length - 1];
    if (typeof ack === 'function') {
      (ack as (reply: Ack) => void)({ ok: false, error: `rate_limited: at most ${this.config.socketMessagesPerSec} messages a second; slow down` });
    }
    if (++state.refusedInARow > this.config.socketMessageBurst) this.cut(socket, 'rate_limited', 'Too many messages; the socket kept sending after being refused');
  }

  /**
   * The periodic re-check: the credential must still authenticate, and what it may see must not
   * have narrowed (a role edited, a permission removed): a narrowed socket is disconnected, and on
   * reconnecting gets only what it may now see. A wider one keeps its socket and gains the rooms.
   */
  private async recheck(socket: Socket, state: SocketState): Promise<void> {
    let viewer: EventViewer | null;
    try {
      viewer = viewerFor(await this.authentication.authenticate(state.token));
    } catch (err) {
      if (err instanceof DomainError && err.code === 'unauthenticated') this.cut(socket, 'credential_revoked', err.message);
      return;
    }
    if (!viewer || narrowed(state.viewer, viewer)) {
      this.cut(socket, 'permissions_changed', 'This credential may no longer read some of what this socket subscribed to; reconnect');
      return;
    }
    const wider = narrowed(viewer, state.viewer);
    state.viewer = viewer;
    if (wider) this.joinSubscribed(socket, state);
  }

  /** Joins the rooms of the socket's subscriptions and leaves the rest (`all` overlaps `tasks`, so recompute). */
  private joinSubscribed(socket: Socket, state: SocketState): void {
    const wanted = new Set([...state.subscriptions.values()].flatMap((sub) => subscriptionRooms(state.viewer, sub)));
    for (const room of [...socket.rooms]) if (room !== socket.id && !wanted.has(room)) void socket.leave(room);
    void socket.join([...wanted]);
  }

  /** One emit per event to the rooms that hear it: socket.io encodes it (and its WebSocket frame) once. */
  private broadcast(batch: readonly (RoutableEvent & { seq: string })[]): void {
    const rooms = this.server.sockets.adapter.rooms;
    for (const event of batch) {
      this.owners.learn(event);
      const audience = eventRooms(event, this.owners.ownersOf(event)).filter((room) => rooms.has(room));
      // Never emit to no rooms: socket.io reads that as every socket.
      if (audience.length) this.server.to(audience).emit(event.type, { ...event.payload, seq: Number(event.seq) });
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
