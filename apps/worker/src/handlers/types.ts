import type { Agent, RaHistory, Task } from '@agentmanager/contracts';
import type { WorkerConfig } from '../config';

/** Thrown by a handler when trying again cannot help (bad input, refused command): the task fails for good. */
export class NonRetryableError extends Error {
  constructor(
    message: string,
    readonly code = 'non_retryable',
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'NonRetryableError';
  }
}

/** A handler error with an explicit code; retryable unless it is a NonRetryableError. */
export class HandlerError extends Error {
  constructor(
    message: string,
    readonly code = 'handler_error',
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HandlerError';
  }
}

export type RaIteration = RaHistory['iterations'][number];

export interface HandlerContext {
  /** The registered agent (its id, endpoints, capabilities). */
  agent: Agent;
  config: WorkerConfig;
  /** Aborted when the task is cancelled or reclaimed (409), times out, or the worker stops. */
  signal: AbortSignal;
  /** Reports progress 0..1 (also extends the lease and the task's lock TTLs on the server). */
  progress(progress: number, message?: string): Promise<void>;
  /** A log line stored with the task (sent with the next progress report). */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Appends one Reason-Act step to the task's ra_history (timestamped when not given). */
  record(iteration: RaIteration): void;
}

/**
 * A task handler: gets the claimed task, returns its result (any JSON value). Throw to fail the
 * attempt (retryable), or a NonRetryableError to fail the task for good.
 */
export type TaskHandler = (task: Task, ctx: HandlerContext) => Promise<unknown>;

/** What a plug-in module (config `handlers_module` / `--handlers`) exports. */
export interface HandlerModule {
  handlers: Record<string, TaskHandler>;
}
