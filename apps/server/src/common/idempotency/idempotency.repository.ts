import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, Repository } from 'typeorm';
import { IdempotencyKeyEntity } from './idempotency-key.entity';

/** The stored outcomes of create requests, keyed by scope (`<owner>|<route>|<key>`). */
@Injectable()
export class IdempotencyRepository {
  constructor(@InjectRepository(IdempotencyKeyEntity) private readonly keys: Repository<IdempotencyKeyEntity>) {}

  /**
   * Waits for any other request on `scope` to end (a transaction-scoped advisory lock: a
   * concurrent duplicate waits for the first one's outcome instead of creating a second
   * resource), then returns the stored outcome, if any.
   */
  async lockAndFind(manager: EntityManager, scope: string): Promise<IdempotencyKeyEntity | null> {
    await manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7316))', [scope]);
    return manager.withRepository(this.keys).findOneBy({ scope });
  }

  async save(manager: EntityManager, scope: string, requestHash: string, statusCode: number, response: unknown): Promise<void> {
    await manager.withRepository(this.keys).insert({ scope, requestHash, statusCode, response: response as object });
  }
}
