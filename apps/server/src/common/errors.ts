/**
 * Domain errors: services throw these with a code; `HttpErrorFilter` maps each code to its HTTP
 * status (the map below is exhaustive, so a new code cannot be added without its status).
 */
export const ERROR_STATUS = {
  validation_failed: 400,
  invalid_json: 400,
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  already_exists: 409,
  stale_attempt: 409,
  lock_conflict: 409,
  illegal_transition: 409,
  in_use: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  idempotency_key_reused: 422,
  dependency_cycle: 422,
  unknown_dependency: 422,
  rate_limited: 429,
  login_throttled: 429,
  too_many_locks: 429,
  service_unavailable: 503,
  internal_error: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Seconds, sent as `Retry-After` (429 and 503). */
    readonly retryAfterSec?: number,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string, id?: string): DomainError =>
  new DomainError('not_found', id ? `${what} ${id} was not found` : `${what} was not found`);

export const forbidden = (message = 'You do not have permission to do this'): DomainError =>
  new DomainError('forbidden', message);

export const unauthenticated = (message = 'Missing or invalid credentials'): DomainError =>
  new DomainError('unauthenticated', message);

export interface FieldError {
  field: string;
  errors: string[];
}

export const validationFailed = (fields: FieldError[], message = 'The request is not valid'): DomainError =>
  new DomainError('validation_failed', message, { fields });
