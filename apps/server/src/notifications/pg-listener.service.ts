import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client, type ClientConfig } from 'pg';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { InjectLogger } from '../common/logger.module';
import { journalNotify, type Channel } from '../outbox/commit-journal';

export type { Channel };

type Listener = (payload: string) => void;

/**
 * One dedicated connection per instance that LISTENs on our channels and fans notifications out
 * in-process. NOTIFY is transactional, so a notification sent inside a transaction arrives only
 * after it commits. Nothing may depend on a notification for correctness: waiters also re-check
 * on a timer, because a notification can be missed while this connection reconnects.
 */
@Injectable()
export class PgListener implements OnModuleInit, OnApplicationShutdown {
  private client: Client | undefined;
  private readonly listeners = new Map<Channel, Set<Listener>>();
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
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

  /** Sends a notification when `manager`'s transaction commits (with its other commit-time writes). */
  static async notify(manager: EntityManager, channel: Channel, payload = ''): Promise<void> {
    journalNotify(manager, channel, payload);
  }

  private async connect(): Promise<void> {
    const options = this.dataSource.options as { url?: string };
    const config: ClientConfig = { connectionString: options.url, application_name: 'agentmanager-listener' };
    const client = new Client(config);
    client.on('notification', (msg) => {
      for (const listener of this.listeners.get(msg.channel as Channel) ?? []) listener(msg.payload ?? '');
    });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'LISTEN connection failed; reconnecting');
      this.scheduleReconnect();
    });
    client.on('end', () => this.scheduleReconnect());
    try {
      await client.connect();
      for (const channel of ['am_tasks_ready', 'am_locks_released', 'am_events'] satisfies Channel[]) {
        await client.query(`LISTEN ${channel}`);
      }
      this.client = client;
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
