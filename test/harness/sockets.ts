import { io, type Socket } from 'socket.io-client';

export interface Received {
  name: string;
  payload: Record<string, unknown>;
}

/** A real Socket.IO client that records every event it receives, in order. */
export class EventClient {
  readonly received: Received[] = [];
  readonly socket: Socket;

  constructor(baseUrl: string, token: string, extra: { origin?: string } = {}) {
    this.socket = io(baseUrl, {
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: extra.origin ? { origin: extra.origin } : undefined,
    });
    this.socket.onAny((name: string, payload: Record<string, unknown>) => this.received.push({ name, payload }));
  }

  /** Resolves once connected; rejects with the connect_error message. */
  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', (err: Error) => reject(err));
    });
  }

  subscribe(channel: string, id?: string): Promise<{ ok: boolean; error?: string }> {
    return this.socket.timeout(5000).emitWithAck('subscribe', { channel, ...(id ? { id } : {}) }) as Promise<{ ok: boolean; error?: string }>;
  }

  unsubscribe(channel: string, id?: string): Promise<{ ok: boolean; error?: string }> {
    return this.socket.timeout(5000).emitWithAck('unsubscribe', { channel, ...(id ? { id } : {}) }) as Promise<{ ok: boolean; error?: string }>;
  }

  of(name: string, filter: (p: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] {
    return this.received.filter((r) => r.name === name && filter(r.payload)).map((r) => r.payload);
  }

  /** Waits until `count` matching events have arrived. */
  async waitFor(name: string, filter: (p: Record<string, unknown>) => boolean = () => true, count = 1, timeoutMs = 10_000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.of(name, filter);
      if (found.length >= count) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`waited ${timeoutMs} ms for ${count} ${name} event(s); got ${JSON.stringify(this.received.slice(-5))}`);
  }

  close(): void {
    this.socket.close();
  }
}
