import { type BeforeApplicationShutdown,Injectable } from '@nestjs/common';

/**
 * Where this instance is in its shutdown; shutdown.ts moves it along. Draining: readiness fails
 * so load balancers stop sending, and responses ask keep-alive clients to reconnect elsewhere.
 * Stopping: the signal aborts, so long-polls return their empty result now.
 */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown {
  private draining = false;
  private readonly stopping = new AbortController();

  get isDraining(): boolean {
    return this.draining;
  }

  /** Aborts once the instance stops accepting work. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  beginDraining(): void {
    this.draining = true;
  }

  stopAccepting(): void {
    this.draining = true;
    this.stopping.abort();
  }

  /** An app closed without the shutdown sequence (as tests do) still ends its long-polls. */
  beforeApplicationShutdown(): void {
    this.stopAccepting();
  }

  /** Aborts on shutdown or when `other` aborts (e.g. the client disconnected). */
  with(other?: AbortSignal): AbortSignal {
    return other ? AbortSignal.any([this.stopping.signal, other]) : this.stopping.signal;
  }
}
