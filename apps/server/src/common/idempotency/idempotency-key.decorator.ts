import { applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import type { Request } from 'express';
import { validationFailed } from '../errors';

/** The `Idempotency-Key` header of a create request: 1–255 visible ASCII characters, or none. */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw validationFailed([{ field: 'Idempotency-Key', errors: ['Idempotency-Key must be 1-255 visible ASCII characters'] }]);
  }
  return value;
}

/** Parameter: the request's validated `Idempotency-Key` (400 when malformed), or undefined. */
export const IdempotencyKey = createParamDecorator((_: unknown, ctx: ExecutionContext): string | undefined =>
  parseIdempotencyKey(ctx.switchToHttp().getRequest<Request>().headers['idempotency-key']),
);

/** Route: documents the header in the OpenAPI document. */
export function Idempotent(): MethodDecorator {
  return applyDecorators(
    ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Same key + same body returns the original response; another body → 422' }),
  );
}
