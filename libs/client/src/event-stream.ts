import { io, type Socket } from 'socket.io-client';
import type { AgentManagerEvent, EventChannel } from '@agentmanager/contracts';
import { AgentManagerError } from './errors';

/** What a stream needs of the client that opened it (AgentManagerClient implements it). */
export interface EventStreamSource {
  readonly baseUrl: string;
  readonly accessToken: string | undefined;
  refresh(): Promise<unknown>;
  replayEvents(after: number | string, limit?: number): Promise<{ events: AgentManagerEvent[]; next_cursor: string | null }>;
}

export interface EventSubscription {
  channel: EventChannel;
  id?: string;
}

export interface EventStreamOptions {
  /** What to receive; default everything the credential may see (`all`). */
  subscriptions?: EventSubscription[];
  /**
   * Deliver events after this seq first (replayed from GET /events). Omitted: start at the
   * current end of the log (found by paging the replay once, without delivering).
   */
  after?: number;
  onEvent: (event: AgentManagerEvent) => void;
  /** Connection state and problems (the stream keeps reconnecting unless the credential is refused). */
  onStatus?: (status: { state: 'connected' | 'replaying' | 'live' | 'disconnected' | 'error'; detail?: string }) => void;
  /** Socket.IO transports; default websocket only. */
  transports?: ('websocket' | 'polling')[];
}

const CHANNEL_OF: Record<string, Exclude<EventChannel, 'all'>> = {
  task_update: 'tasks',
  agent_update: 'agents',
  pipeline_progress: 'pipelines',
  workflow_update: 'workflows',
  lock_update: 'locks',
};
const ID_FIELDS = ['task_id', 'agent_id', 'run_id', 'pipeline_id', 'workflow_id', 'lock_id', 'assigned_agent'];

/** The same rule the gateway applies to live events, for the replayed ones. */
export function matchesSubscription(sub: EventSubscription, event: AgentManagerEvent): boolean {
  const payload = event as unknown as Record<string, unknown>;
  const channel = CHANNEL_OF[event.type] ?? (payload.run_id ? 'pipelines' : 'tasks');
  if (sub.channel !== 'all' && sub.channel !== channel) return false;
  if (!sub.id) return true;
  return ID_FIELDS.some((f) => payload[f] === sub.id);
}

/**
 * A Socket.IO event stream that never shows a gap or a duplicate. On every (re)connect it
 * subscribes, then replays `GET /events?after=<last seq>` while buffering live events, then
 * flushes the buffer; anything with a seq at or below the last delivered one is dropped.
 * When the server cuts the socket (token expired, restart) it refreshes the token if the client
 * can and reconnects with backoff.
 */
export class EventStream {
  private socket?: Socket;
  private lastSeq?: number;
  private replaying = false;
  private buffer: AgentManagerEvent[] = [];
  private closed = false;
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private readonly subs: EventSubscription[];
  private readyResolve?: () => void;
  private readyReject?: (err: Error) => void;
  /** Resolves once the stream is live for the first time (subscribed and caught up). */
  readonly ready: Promise<void>;

  constructor(
    private readonly client: EventStreamSource,
    private readonly options: EventStreamOptions,
  ) {
    this.subs = options.subscriptions?.length ? options.subscriptions : [{ channel: 'all' }];
    this.lastSeq = options.after;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
    this.open();
  }

  /** The seq of the last event delivered (or the starting point). */
  get seq(): number | undefined {
    return this.lastSeq;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket?.removeAllListeners();
    this.socket?.close();
  }

  private open(): void {
    if (this.closed) return;
    const socket = io(this.client.baseUrl, {
      auth: { token: this.client.accessToken ?? '' },
      transports: this.options.transports ?? ['websocket'],
      forceNew: true,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
    });
    this.socket = socket;
    socket.onAny((name: string, payload: unknown) => {
      if (name === 'error' && payload && typeof payload === 'object' && !('seq' in payload)) {
        this.status('error', JSON.stringify(payload)); // the server says why it cuts us
        return;
      }
      if (payload && typeof payload === 'object' && 'seq' in payload) this.receive(payload as AgentManagerEvent);
    });
    socket.on('connect', () => void this.catchUp(socket));
    socket.on('disconnect', (reason) => {
      this.status('disconnected', reason);
      // Server-initiated disconnects are not retried by socket.io itself.
      if (reason === 'io server disconnect') this.reopenLater(socket);
    });
    socket.on('connect_error', (err: Error) => {
      this.status('error', err.message);
      if (socket.active) return; // socket.io retries transport errors itself
      if (/^forbidden/.test(err.message)) return this.fatal(socket, err);
      this.reopenLater(socket, /^unauthorized/.test(err.message));
    });
  }

  /** Reconnect with a new socket (after refreshing the token when asked and possible). */
  private reopenLater(socket: Socket, needsRefresh = true): void {
    socket.removeAllListeners();
    socket.close();
    if (this.closed) return;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(this.failures++, 5)) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      const refresh = needsRefresh ? this.client.refresh().catch(() => undefined) : Promise.resolve();
      void refresh.then(() => this.open());
    }, delay);
  }

  private fatal(socket: Socket, err: Error): void {
    socket.removeAllListeners();
    socket.close();
    this.closed = true;
    this.readyReject?.(err);
    this.status('error', `giving up: ${err.message}`);
  }

  private receive(event: AgentManagerEvent): void {
    if (this.replaying) this.buffer.push(event);
    else this.deliver(event);
  }

  private deliver(event: AgentManagerEvent): void {
    const seq = Number(event.seq);
    if (this.lastSeq !== undefined && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.options.onEvent(event);
  }

  private async catchUp(socket: Socket): Promise<void> {
    this.replaying = true;
    this.buffer = [];
    this.status('connected');
    try {
      for (const sub of this.subs) {
        const ack = (await socket.timeout(10_000).emitWithAck('subscribe', sub)) as { ok: boolean; error?: string };
        if (!ack.ok) throw new Error(`subscribe ${sub.channel} refused: ${ack.error ?? 'unknown'}`);
      }
      this.status('replaying', String(this.lastSeq ?? 'end'));
      await this.replay(this.lastSeq === undefined);
      this.buffer.sort((a, b) => Number(a.seq) - Number(b.seq));
      const buffered = this.buffer;
      this.buffer = [];
      this.replaying = false;
      for (const event of buffered) this.deliver(event);
      this.failures = 0;
      this.status('live');
      this.readyResolve?.();
    } catch (err) {
      this.replaying = false;
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof AgentManagerError && err.status === 403) return this.fatal(socket, err);
      if (/refused/.test(message)) return this.fatal(socket, new Error(message));
      this.status('error', `catch-up failed: ${message}`);
      this.reopenLater(socket, err instanceof AgentManagerError && err.status === 401);
    }
  }

  /** Pages GET /events from lastSeq; with `skipOnly` it only finds the end of the log. */
  private async replay(skipOnly: boolean): Promise<void> {
    let after = this.lastSeq ?? 0;
    for (;;) {
      const page = await this.client.replayEvents(after, 1000);
      for (const event of page.events) {
        const seq = Number(event.seq);
        if (seq > after) after = seq;
        if (skipOnly) continue;
        if (this.subs.some((s) => matchesSubscription(s, event))) this.deliver(event);
      }
      if (skipOnly) this.lastSeq = Math.max(this.lastSeq ?? 0, after);
      if (!page.next_cursor) break;
      after = Math.max(after, Number(page.next_cursor));
    }
    // Everything up to `after` has been seen (delivered or filtered out).
    this.lastSeq = Math.max(this.lastSeq ?? 0, after);
  }

  private status(state: 'connected' | 'replaying' | 'live' | 'disconnected' | 'error', detail?: string): void {
    this.options.onStatus?.({ state, detail });
  }
}
