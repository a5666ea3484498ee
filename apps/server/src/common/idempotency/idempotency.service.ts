import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { canonicalJson } from '../canonical-json';
import { DomainError } from '../errors';
import { IdempotencyRepository } from './idempotency.repository';

/** One create request as the idempotency check sees it. */
export interface IdempotentRequest {
  /** Whose keys these are: the credential's owner (keys of different callers never collide). */
  owner: string;
  /** The route, e.g. `POST /tasks` or `POST /pipelines/<id>/execute`. */
  route: string;
  /** The `Idempotency-Key` header, already validated (IdempotencyKey); none: no check. */
  key: string | undefined;
  /** The request body: the same key with another body is refused. */
  body: unknown;
}

/**
 * `Idempotency-Key` for create endpoints (API.md): the same key with the same body returns the
 * original response, with another body 422 `idempotency_key_reused`. Runs in the caller's
 * transaction, so the resource and its stored response commit together or not at all.
 */
@Injectable()
export class IdempotencyService {
  constructor(private readonly repository: IdempotencyRepository) {}

  async within<T>(
    manager: EntityManager,
    request: IdempotentRequest,
    status: number,
    create: () => Promise<T>,
  ): Promise<{ status: number; body: T; replayed: boolean }> {
    if (request.key === undefined) return { status, body: await create(), replayed: false };
    const scope = `${request.owner}|${request.route}|${request.key}`;
    const requestHash = createHash('sha256').update(canonicalJson(request.body ?? {})).digest('hex');
    const previous = await this.repository.lockAndFind(manager, scope);
    if (previous) {
      if (previous.requestHash !== requestHash) {
        throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with a different request body');
      }
      return { status: previous.statusCode, body: previous.response as T, replayed: true };
    }
    const body = await create();
    await this.repository.save(manager, scope, requestHash, status, body);
    return { status, body, replayed: false };
  }
}
