import type { ErrorBody } from '@agentmanager/contracts';

/** An API error: the API.md error body with its HTTP status. */
export class AgentManagerError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.code}: ${body.message}`);
    this.name = 'AgentManagerError';
  }

  get code(): string {
    return this.body.code;
  }

  /** Seconds from a `Retry-After` header (429/503), when the server sent one. */
  retryAfterSec?: number;
}

/** The server could not be reached (refused, reset, DNS, timeout): the request may or may not have arrived. */
export class ConnectionError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ConnectionError';
  }
}

export function isConnectionError(err: unknown): err is ConnectionError {
  return err instanceof ConnectionError;
}

export function isApiError(err: unknown, code?: string): err is AgentManagerError {
  return err instanceof AgentManagerError && (code === undefined || err.body.code === code);
}

/**
 * Worth trying again later with the same request: the server was unreachable, shedding load
 * (503), rate limiting (429) or a proxy in front of it failed (502/504).
 */
export function isTransientError(err: unknown): boolean {
  if (isConnectionError(err)) return true;
  return err instanceof AgentManagerError && [429, 502, 503, 504].includes(err.status);
}
