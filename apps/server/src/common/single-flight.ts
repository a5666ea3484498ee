/**
 * Runs `work` one call at a time. A call while it runs does not start a second run: it asks for
 * one more after the current one (however many calls came meanwhile), so nothing signalled during
 * a run is missed and runs never overlap. Used by the readers woken by notifications.
 */
export class SingleFlight {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly work: () => Promise<void>) {}

  /** Resolves when a run that started after this call has ended. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.work();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** The run under way, if any (to wait for it at shutdown). */
  get inFlight(): Promise<void> | undefined {
    return this.running;
  }
}
