import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client, type ClientConfig } from 'pg';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { InjectLogger } from '../common/logger.module';
import { type Channel,setCommitSignalSink } from './commit-signals';

export type { Channel };

type Listener = (payload: string) => void;

const CHANNELS: Channel[] = ['am_tasks_ready', 'am_locks_released', 'am_events', 'am_pending', 'am_auth'];
/** Cross-instance NOTIFYs from one instance are sent at most this often (each is a transaction). */
const NOTIFY_MIN_GAP_MS = 5;

/**
 * One dedicated connection per instance that LISTENs on our channels and fans notifications out
 * in-process. A committed change signals its channels here (commit-journal's onCommitted): local
 * waiters are woken at once, and other instances through one coalesced NOTIFY sent from this
 * connection — never from the change's own transaction, where NOTIFY's commit-time lock would
 * serialise every writer. Nothing may depend on a notification for correctness: waiters also
 * re-check on a timer, because a notification can be missed while this connection reconnects.
 */
@Injectable()
export class PgListener implements OnModuleInit, OnApplicationShutdown {
  private client: Client | undefined;
  private readonly listeners = new Map<Channel, Set<Listener>>();
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Channels waiting for the next cross-instance NOTIFY, and whether one is being sent. */
  private readonly outgoing = new Set<Channel>();
  private sending = false;
  /** Channels whose only consumer is in this instance (set by the sealer while it leads). */
  private readonly localOnly = new Set<Channel>();
  /** Backends whose notifications were already delivered in-process (this connection, the sealer's). */
  private readonly ownBackends = new Set<number>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    setCommitSignalSink(this.dataSource, (channels) => this.signal(channels));
    await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  on(channel: Channel, listener: Listener): () => void {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Wakes this instance's waiters on `channels` now, and the other instances' shortly. */
  signal(channels: Iterable<Channel>): void {
    for (const channel of channels) {
      this.wakeLocal(channel);
      if (!this.localOnly.has(channel)) this.outgoing.add(channel);
    }
    if (this.outgoing.size && !this.sending) void this.sendOutgoing();
  }

  /** While set, `channel` is not forwarded to other instances (its one consumer is here). */
  setLocalOnly(channel: Channel, local: boolean): void {
    if (local) this.localOnly.add(channel);
    else this.localOnly.delete(channel);
  }

  /** Notifications from this backend are skipped: whoever sent them delivered them in-process. */
  ignoreBackend(pid: number | undefined, ignore: boolean): void {
    if (pid === undefined) return;
    if (ignore) this.ownBackends.add(pid);
    else this.ownBackends.delete(pid);
  }

  /** Wakes this instance's waiters on `channel` only. */
  wakeLocal(channel: Channel, payload = ''): void {
    for (const listener of this.listeners.get(channel) ?? []) listener(payload);
  }

  /** One NOTIFY transaction in flight at a time, carrying every channel signalled meanwhile. */
  private async sendOutgoing(): Promise<void> {
    this.sending = true;
    try {
      while (this.outgoing.size && this.client && !this.stopped) {
        const channels = [...this.outgoing];
        this.outgoing.clear();
        const started = Date.now();
        await this.client.query(`SELECT ${channels.map((c) => `pg_notify('${c}', '')`).join(', ')}`);
        const gap = NOTIFY_MIN_GAP_MS - (Date.now() - started);
        if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      }
    } catch (err) {
      // The other instances' timers re-check; the reconnect logic handles the connection.
      this.logger.debug({ err: (err as Error).message }, 'cross-instance NOTIFY failed');
    } finally {
      this.sending = false;
    }
  }

  private async connect(): Promise<void> {
    const options = this.dataSource.options as { url?: string };
    const config: ClientConfig = { connectionString: options.url, application_name: 'agentmanager-listener' };
    const client = new Client(config);
    client.on('notification', (msg) => {
      if (this.ownBackends.has(msg.processId)) return;
      this.wakeLocal(msg.channel as Channel, msg.payload ?? '');
    });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'LISTEN connection failed; reconnecting');
      this.scheduleReconnect();
    });
    client.on('end', () => this.scheduleReconnect());
    try {
      await client.connect();
      // Its NOTIFYs are hints: no need to wait for their commit to reach the disk.
      await client.query(`SET synchronous_commit = off; ${CHANNELS.map((c) => `LISTEN ${c}`).join('; ')}`);
      if (this.client) this.ignoreBackend(backendPid(this.client), false);
      this.client = client;
      this.ignoreBackend(backendPid(client), true);
      // Anything notified while we were away is picked up by the waiters' periodic re-checks.
      for (const set of this.listeners.values()) for (const listener of set) listener('');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not LISTEN; retrying');
      await client.end().catch(() => undefined);
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.client = undefined;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, 1000);
    this.reconnectTimer.unref();
  }
}

/** The server process of a connected client (pg sets it at startup but does not type it). */
export function backendPid(client: Client): number | undefined {
  return (client as unknown as { processID?: number }).processID ?? undefined;
}

/**
 * Resolves after `ms`, on a notification on `channel`, or when `signal` aborts — whichever is
 * first. Used by long-polls between re-checks.
 */
export function waitForWake(listener: PgListener, channel: Channel, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      off();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const off = listener.on(channel, done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
