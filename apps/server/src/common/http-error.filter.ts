import { type ArgumentsHost, Catch, type ExceptionFilter,HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { DomainError, ERROR_STATUS, type ErrorCode } from './errors';
import { requestIdFrom } from './request-id';

export interface ErrorBody {
  status_code: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
  request_id: string;
}

const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  503: 'service_unavailable',
};

/** body-parser marks its errors with `type`; they never reach a controller. */
function fromBodyParser(err: { type?: unknown; status?: unknown }): DomainError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new DomainError('invalid_json', 'The request body is not valid JSON');
    case 'entity.too.large':
      return new DomainError('payload_too_large', 'The request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DomainError('unsupported_media_type', 'The request body encoding is not supported');
    case 'request.aborted':
      return new DomainError('bad_request', 'The request was aborted');
    default:
      return undefined;
  }
}

/** Network failures reaching PostgreSQL. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
]);
/**
 * SQLSTATEs meaning the database cannot serve us right now: connection exceptions (08), too many
 * connections / out of resources (53), shutting down or starting up (57P), database missing (3D)
 * or credentials refused (28).
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P|3D|28)/;
/** node-postgres and its pool report these without a code. */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|not currently accepting connections|Connection is not established/i;

/** A database outage is a 503 the client may retry, not a 500 (nor a 401 from the auth guard). */
export function fromDatabaseOutage(err: unknown): DomainError | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; message?: unknown; driverError?: { code?: unknown; message?: unknown } };
  const code = e.driverError?.code ?? e.code;
  const message = e.driverError?.message ?? e.message;
  const down =
    (typeof code === 'string' && (NETWORK_ERRORS.has(code) || UNAVAILABLE_SQLSTATE.test(code))) ||
    (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message));
  return down ? new DomainError('service_unavailable', 'The database is unavailable; try again shortly', {}, 5) : undefined;
}

/** Normalises anything thrown into a DomainError; an unexpected error becomes a bare 500. */
export function toDomainError(exception: unknown): DomainError {
  if (exception instanceof DomainError) return exception;
  if (exception && typeof exception === 'object') {
    const parsed = fromBodyParser(exception) ?? fromDatabaseOutage(exception);
    if (parsed) return parsed;
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code = CODE_FOR_STATUS[status];
    if (code) {
      const response = exception.getResponse();
      const message =
        status === 404
          ? 'No such route'
          : typeof response === 'object' && response && typeof (response as { message?: unknown }).message === 'string'
            ? (response as { message: string }).message
            : exception.message;
      return new DomainError(code, message);
    }
  }
  return new DomainError('internal_error', 'An unexpected error occurred');
}

export function errorBody(error: DomainError, requestId: string): ErrorBody {
  return {
    status_code: ERROR_STATUS[error.code],
    code: error.code,
    message: error.message,
    details: error.details,
    request_id: requestId,
  };
}

/** Writes every error as the API.md body. No stack, SQL or path ever reaches the client. */
export function sendError(req: Request, res: Response, exception: unknown, logger?: Logger): void {
  const error = toDomainError(exception);
  const requestId = (req as Request & { id?: string }).id ?? requestIdFrom(req.headers['x-request-id']);
  if (error.code === 'internal_error') {
    logger?.error({ err: exception, request_id: requestId }, 'unhandled error');
  } else if (error.code === 'service_unavailable' && !(exception instanceof DomainError)) {
    logger?.error({ err: exception, request_id: requestId }, 'database unavailable');
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  res.setHeader('X-Request-Id', requestId);
  if (error.retryAfterSec !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(error.retryAfterSec))));
  res.status(ERROR_STATUS[error.code]).json(errorBody(error, requestId));
}

@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    sendError(http.getRequest<Request>(), http.getResponse<Response>(), exception, this.logger);
  }
}
