import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';

/** Aborts when the app begins shutting down, so long-polls can return early with an empty result. */
@Injectable()
export class ShutdownSignal implements BeforeApplicationShutdown {
  private readonly controller = new AbortController();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  beforeApplicationShutdown(): void {
    this.controller.abort();
  }

  /** Aborts on shutdown or when `other` aborts (e.g. the client disconnected). */
  with(other?: AbortSignal): AbortSignal {
    return other ? AbortSignal.any([this.controller.signal, other]) : this.controller.signal;
  }
}
