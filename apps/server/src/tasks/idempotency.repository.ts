import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { rows } from '../../../../libs/database/src';

/**
 * `Idempotency-Key` for create endpoints. The scope is the credential, the route and the key, and
 * a transaction-scoped advisory lock on the scope makes a concurrent duplicate wait for the first
 * request's outcome instead of creating a second resource.
 */
@Injectable()
export class IdempotencyRepository {
  async lockAndFind(
    manager: EntityManager,
    scope: string,
  ): Promise<{ request_hash: string; status_code: number; response: unknown } | undefined> {
    await manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7316))', [scope]);
    return (
      await rows<{ request_hash: string; status_code: number; response: unknown }>(
        manager,
        'SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope = $1',
        [scope],
      )
    )[0];
  }

  async save(manager: EntityManager, scope: string, requestHash: string, statusCode: number, response: unknown): Promise<void> {
    await manager.query(
      'INSERT INTO idempotency_keys (scope, request_hash, status_code, response) VALUES ($1, $2, $3, $4::jsonb)',
      [scope, requestHash, statusCode, JSON.stringify(response)],
    );
  }
}
