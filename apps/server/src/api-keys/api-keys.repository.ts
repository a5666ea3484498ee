import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, IsNull, type Repository } from 'typeorm';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeyRoleEntity } from './api-key-role.entity';

/**
 * A key as lists show it: never its hash (nothing outside authentication needs it), with the names
 * of its roles in order, and created_at at full (microsecond) precision for the keyset cursor,
 * since a JS Date keeps only milliseconds.
 */
export type ListedApiKey = Omit<ApiKeyEntity, 'keyHash' | 'creator'> & { roles: string[]; createdAtKey: string };

@Injectable()
export class ApiKeysRepository {
  constructor(@InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>) {}

  /**
   * Oldest first, keyset on (created_at, id) to the microsecond, so a page never repeats the last
   * row of the one before; `createdBy` limits the list to one creator's keys.
   */
  async list(createdBy: string | null, limit: number, after?: [string, string]): Promise<ListedApiKey[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (createdBy !== null) clauses.push(`k.created_by = $${params.push(createdBy)}`);
    if (after) {
      params.push(after[0], after[1]);
      clauses.push(`(k.created_at, k.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(limit);
    return await this.keys.manager.query<ListedApiKey[]>(
      `SELECT k.id, k.name, k.prefix, k.created_by AS "createdBy", k.expires_at AS "expiresAt", k.revoked_at AS "revokedAt",
              k.last_used_at AS "lastUsedAt", k.created_at AS "createdAt", k.created_at::text AS "createdAtKey",
              COALESCE(array_agg(kr.role_name ORDER BY kr.role_name) FILTER (WHERE kr.role_name IS NOT NULL), '{}') AS roles
         FROM api_keys k LEFT JOIN api_key_roles kr ON kr.api_key_id = k.id
         ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
        GROUP BY k.id ORDER BY k.created_at, k.id LIMIT $${params.length}`,
      params,
    );
  }

  /**
   * Locks one key for revocation (FOR UPDATE); with `createdBy` set, only that creator's key is
   * found (so someone else's key reads as "not found").
   */
  async lockForRevoke(
    manager: EntityManager,
    id: string,
    createdBy: string | null,
  ): Promise<Pick<ApiKeyEntity, 'id' | 'name' | 'prefix' | 'revokedAt'> | null> {
    return await manager.getRepository(ApiKeyEntity).findOne({
      select: { id: true, name: true, prefix: true, revokedAt: true },
      where: createdBy === null ? { id } : { id, createdBy },
      lock: { mode: 'pessimistic_write' },
    });
  }

  /** Compares with the database clock, which is what authentication checks expiry against. */
  async isInFuture(manager: EntityManager, at: string): Promise<boolean> {
    const rows = await manager.query<{ future: boolean }[]>('SELECT $1::timestamptz > clock_timestamp() AS future', [at]);
    return rows[0].future;
  }

  /** The key and its roles. */
  async insert(
    manager: EntityManager,
    key: Pick<ApiKeyEntity, 'name' | 'prefix' | 'keyHash' | 'createdBy'> & { expiresAt: string | null; roles: string[] },
  ): Promise<Pick<ApiKeyEntity, 'id' | 'expiresAt' | 'createdAt'>> {
    const keys = manager.getRepository(ApiKeyEntity);
    const inserted = await keys
      .createQueryBuilder()
      .insert()
      .values({
        name: key.name,
        prefix: key.prefix,
        keyHash: key.keyHash,
        createdBy: key.createdBy,
        // PostgreSQL parses the time, as in isInFuture; TypeORM would parse it as a JS Date (milliseconds).
        expiresAt: () => 'CAST(:expiresAt AS timestamptz)',
        createdAt: () => 'clock_timestamp()',
      })
      .setParameter('expiresAt', key.expiresAt)
      .execute();
    const id = (inserted.identifiers[0] as Pick<ApiKeyEntity, 'id'>).id;
    await manager.getRepository(ApiKeyRoleEntity).insert(key.roles.map((roleName) => ({ apiKeyId: id, roleName })));
    return await keys.findOneOrFail({ select: { id: true, expiresAt: true, createdAt: true }, where: { id } });
  }

  /** Revoking an already revoked key keeps its first revocation time. */
  async revoke(manager: EntityManager, id: string): Promise<void> {
    await manager.getRepository(ApiKeyEntity).update({ id, revokedAt: IsNull() }, { revokedAt: () => 'clock_timestamp()' });
  }
}
