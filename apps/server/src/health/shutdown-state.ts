import { Injectable } from '@nestjs/common';

/** Set the moment the process is told to stop: readiness fails at once so load balancers drain it. */
@Injectable()
export class ShutdownState {
  private draining = false;

  get isDraining(): boolean {
    return this.draining;
  }

  begin(): void {
    this.draining = true;
  }
}
