import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

export interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  roles: string[];
  created_by: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
  /** created_at at full (microsecond) precision, for the keyset cursor; a JS Date keeps only milliseconds. */
  created_at_key: string;
}

// Never selects key_hash: nothing outside authentication needs it.
const SELECT_KEY = `SELECT k.id, k.name, k.prefix, k.created_by, k.expires_at, k.revoked_at, k.last_used_at, k.created_at,
       k.created_at::text AS created_at_key,
       COALESCE(array_agg(kr.role_name ORDER BY kr.role_name) FILTER (WHERE kr.role_name IS NOT NULL), '{}') AS roles
  FROM api_keys k LEFT JOIN api_key_roles kr ON kr.api_key_id = k.id`;

@Injectable()
export class ApiKeysRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Oldest first, keyset on (created_at, id); `createdBy` limits the list to one creator's keys. */
  async list(createdBy: string | null, limit: number, after?: [string, string]): Promise<ApiKeyRow[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (createdBy !== null) clauses.push(`k.created_by = $${params.push(createdBy)}`);
    if (after) {
      params.push(after[0], after[1]);
      clauses.push(`(k.created_at, k.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(limit);
    return await this.dataSource.query<ApiKeyRow[]>(
      `${SELECT_KEY} ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
       GROUP BY k.id ORDER BY k.created_at, k.id LIMIT $${params.length}`,
      params,
    );
  }

  /**
   * Locks one key for revocation; with `createdBy` set, only that creator's key is found (so
   * someone else's key reads as "not found").
   */
  async lockForRevoke(
    manager: EntityManager,
    id: string,
    createdBy: string | null,
  ): Promise<{ id: string; name: string; prefix: string; revoked: boolean } | undefined> {
    const rows = await manager.query<{ id: string; name: string; prefix: string; revoked: boolean }[]>(
      `SELECT id, name, prefix, revoked_at IS NOT NULL AS revoked FROM api_keys
        WHERE id = $1 AND ($2::uuid IS NULL OR created_by = $2) FOR UPDATE`,
      [id, createdBy],
    );
    return rows[0];
  }

  async existingRoles(manager: EntityManager, roles: string[]): Promise<string[]> {
    const rows = await manager.query<{ name: string }[]>('SELECT name FROM roles WHERE name = ANY($1)', [roles]);
    return rows.map((r) => r.name);
  }

  /**
   * The union of the roles' permissions. Share-locks the roles so an edit cannot widen them
   * between this check and the commit of the key that holds them.
   */
  async permissionsOfRoles(manager: EntityManager, roles: string[]): Promise<string[]> {
    const rows = await manager.query<{ permissions: string[] }[]>(
      'SELECT permissions FROM roles WHERE name = ANY($1) ORDER BY name FOR SHARE',
      [roles],
    );
    return [...new Set(rows.flatMap((r) => r.permissions))];
  }

  /** Compares with the database clock, which is what authentication checks expiry against. */
  async isInFuture(manager: EntityManager, at: string): Promise<boolean> {
    const rows = await manager.query<{ future: boolean }[]>('SELECT $1::timestamptz > clock_timestamp() AS future', [at]);
    return rows[0].future;
  }

  async insert(
    manager: EntityManager,
    key: { name: string; prefix: string; keyHash: string; createdBy: string; expiresAt: string | null; roles: string[] },
  ): Promise<{ id: string; expires_at: Date | null; created_at: Date }> {
    const rows = await manager.query<{ id: string; expires_at: Date | null; created_at: Date }[]>(
      `INSERT INTO api_keys (name, prefix, key_hash, created_by, expires_at, created_at)
       VALUES ($1, $2, $3, $4, $5::timestamptz, clock_timestamp()) RETURNING id, expires_at, created_at`,
      [key.name, key.prefix, key.keyHash, key.createdBy, key.expiresAt],
    );
    await manager.query('INSERT INTO api_key_roles (api_key_id, role_name) SELECT $1, unnest($2::text[])', [
      rows[0].id,
      key.roles,
    ]);
    return rows[0];
  }

  async revoke(manager: EntityManager, id: string): Promise<void> {
    await manager.query('UPDATE api_keys SET revoked_at = clock_timestamp() WHERE id = $1 AND revoked_at IS NULL', [id]);
  }
}
