import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

export interface RoleRow {
  name: string;
  description: string;
  permissions: string[];
  built_in: boolean;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'name, description, permissions, built_in, created_at, updated_at';

@Injectable()
export class RolesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** By name, keyset on name. */
  async list(limit: number, afterName?: string): Promise<RoleRow[]> {
    return await this.dataSource.query<RoleRow[]>(
      `SELECT ${COLUMNS} FROM roles WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`,
      [afterName ?? null, limit],
    );
  }

  async findByName(name: string, manager: EntityManager = this.dataSource.manager): Promise<RoleRow | undefined> {
    const rows = await manager.query<RoleRow[]>(`SELECT ${COLUMNS} FROM roles WHERE name = $1`, [name]);
    return rows[0];
  }

  /**
   * Locks the role for an edit or a delete. The lock also holds off concurrent grants of the role
   * (their foreign-key check needs a share lock on this row) until the transaction ends.
   */
  async lockByName(manager: EntityManager, name: string): Promise<RoleRow | undefined> {
    const rows = await manager.query<RoleRow[]>(`SELECT ${COLUMNS} FROM roles WHERE name = $1 FOR UPDATE`, [name]);
    return rows[0];
  }

  async insert(manager: EntityManager, role: { name: string; description: string; permissions: string[] }): Promise<RoleRow> {
    const rows = await manager.query<RoleRow[]>(
      `INSERT INTO roles (name, description, permissions, built_in, created_at, updated_at)
       VALUES ($1, $2, $3::text[], false, clock_timestamp(), clock_timestamp()) RETURNING ${COLUMNS}`,
      [role.name, role.description, role.permissions],
    );
    return rows[0];
  }

  async update(
    manager: EntityManager,
    name: string,
    changes: { description?: string; permissions?: string[] },
  ): Promise<RoleRow> {
    // Wrapped in a CTE: TypeORM returns [rows, rowCount] for a top-level UPDATE or DELETE.
    const rows = await manager.query<RoleRow[]>(
      `WITH updated AS (
         UPDATE roles SET description = COALESCE($2, description), permissions = COALESCE($3::text[], permissions),
                updated_at = clock_timestamp()
          WHERE name = $1 RETURNING ${COLUMNS}
       ) SELECT * FROM updated`,
      [name, changes.description ?? null, changes.permissions ?? null],
    );
    return rows[0];
  }

  /**
   * Who still holds the role: users, and API keys that can still authenticate some day (not
   * revoked, not expired by the database clock). Dead keys do not keep a role alive.
   */
  async countHolders(manager: EntityManager, name: string): Promise<{ users: number; api_keys: number }> {
    const rows = await manager.query<{ users: number; api_keys: number }[]>(
      `SELECT (SELECT count(*)::int FROM user_roles WHERE role_name = $1) AS users,
              (SELECT count(*)::int FROM api_key_roles kr JOIN api_keys k ON k.id = kr.api_key_id
                WHERE kr.role_name = $1 AND k.revoked_at IS NULL
                  AND (k.expires_at IS NULL OR k.expires_at > clock_timestamp())) AS api_keys`,
      [name],
    );
    return rows[0];
  }

  /** Removes the role from revoked and expired keys, which can never use it again. */
  async detachFromDeadKeys(manager: EntityManager, name: string): Promise<number> {
    const rows = await manager.query<{ n: number }[]>(
      `WITH detached AS (
         DELETE FROM api_key_roles kr USING api_keys k
          WHERE kr.api_key_id = k.id AND kr.role_name = $1
            AND (k.revoked_at IS NOT NULL OR k.expires_at <= clock_timestamp())
          RETURNING kr.api_key_id
       ) SELECT count(*)::int AS n FROM detached`,
      [name],
    );
    return rows[0].n;
  }

  async delete(manager: EntityManager, name: string): Promise<void> {
    await manager.query('DELETE FROM roles WHERE name = $1', [name]);
  }
}
