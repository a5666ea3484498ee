import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { cursorTimestamp, cursorTimestampParam } from '../common/pagination';
import { rows } from '../../../../libs/database/src';

export interface UserRow {
  id: string;
  username: string;
  email: string | null;
  disabled: boolean;
  roles: string[];
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

const SELECT_USER = `SELECT u.id, u.username, u.email, u.disabled, u.created_at, u.updated_at, ${cursorTimestamp('u.created_at')} AS cursor_ts,
       COALESCE(array_agg(ur.role_name ORDER BY ur.role_name) FILTER (WHERE ur.role_name IS NOT NULL), '{}') AS roles
  FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id`;

@Injectable()
export class UsersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<UserRow | undefined> {
    const rows = await manager.query<UserRow[]>(`${SELECT_USER} WHERE u.id = $1 GROUP BY u.id`, [id]);
    return rows[0];
  }

  /** Oldest first, keyset on (created_at, id). */
  async list(
    filter: { username?: string; role?: string },
    limit: number,
    after?: [string, string],
  ): Promise<UserRow[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (filter.username) {
      params.push(filter.username.toLowerCase());
      clauses.push(`u.username = $${params.length}`);
    }
    if (filter.role) {
      params.push(filter.role);
      clauses.push(`EXISTS (SELECT 1 FROM user_roles x WHERE x.user_id = u.id AND x.role_name = $${params.length})`);
    }
    if (after) {
      params.push(after[0], after[1]);
      clauses.push(`(u.created_at, u.id) > (${cursorTimestampParam(`$${params.length - 1}`)}, $${params.length}::uuid)`);
    }
    params.push(limit);
    return await this.dataSource.query<UserRow[]>(
      `${SELECT_USER} ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
       GROUP BY u.id ORDER BY u.created_at, u.id LIMIT $${params.length}`,
      params,
    );
  }

  async insert(
    manager: EntityManager,
    user: { username: string; email: string | null; passwordHash: string; disabled: boolean },
  ): Promise<string> {
    const rows = await manager.query<{ id: string }[]>(
      `INSERT INTO users (username, email, password_hash, disabled) VALUES ($1, $2, $3, $4) RETURNING id`,
      [user.username, user.email, user.passwordHash, user.disabled],
    );
    return rows[0].id;
  }

  async update(
    manager: EntityManager,
    id: string,
    changes: { email?: string | null; passwordHash?: string; disabled?: boolean },
  ): Promise<void> {
    const sets: string[] = ['updated_at = clock_timestamp()'];
    const params: unknown[] = [id];
    if (changes.email !== undefined) sets.push(`email = $${params.push(changes.email)}`);
    if (changes.passwordHash !== undefined) sets.push(`password_hash = $${params.push(changes.passwordHash)}`);
    if (changes.disabled !== undefined) sets.push(`disabled = $${params.push(changes.disabled)}`);
    await manager.query(`UPDATE users SET ${sets.join(', ')} WHERE id = $1`, params);
  }

  async replaceRoles(manager: EntityManager, userId: string, roles: string[]): Promise<void> {
    await manager.query('DELETE FROM user_roles WHERE user_id = $1', [userId]);
    if (roles.length) {
      await manager.query('INSERT INTO user_roles (user_id, role_name) SELECT $1, unnest($2::text[])', [userId, roles]);
    }
  }

  async delete(manager: EntityManager, id: string): Promise<boolean> {
    const deleted = await rows<{ id: string }>(manager, 'DELETE FROM users WHERE id = $1 RETURNING id', [id]);
    return deleted.length > 0;
  }

  async existingRoles(manager: EntityManager, roles: string[]): Promise<string[]> {
    const rows = await manager.query<{ name: string }[]>('SELECT name FROM roles WHERE name = ANY($1)', [roles]);
    return rows.map((r) => r.name);
  }

  /**
   * Enabled users holding the admin role, locked so two concurrent demotions cannot both
   * conclude that another admin remains.
   */
  async lockEnabledAdmins(manager: EntityManager): Promise<string[]> {
    const rows = await manager.query<{ id: string }[]>(
      `SELECT u.id FROM users u JOIN user_roles ur ON ur.user_id = u.id
        WHERE ur.role_name = 'admin' AND NOT u.disabled ORDER BY u.id FOR UPDATE OF u`,
    );
    return rows.map((r) => r.id);
  }

  async count(manager: EntityManager): Promise<number> {
    const rows = await manager.query<{ n: number }[]>('SELECT count(*)::int AS n FROM users');
    return rows[0].n;
  }
}
