import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '@agentmanager/database';

export interface UserCredentials {
  id: string;
  username: string;
  password_hash: string;
  disabled: boolean;
}

export interface UserGrants {
  id: string;
  username: string;
  email: string | null;
  disabled: boolean;
  roles: string[];
  permissions: string[];
}

/** How fresh api_keys.last_used_at is kept (a SQL interval). */
const LAST_USED_RESOLUTION = "interval '60 seconds'";

export interface ApiKeyGrants {
  id: string;
  name: string;
  key_hash: string;
  usable: boolean;
  created_by: string;
  creator_username: string;
  roles: string[];
  /** What the key's roles grant, not yet bounded by its creator. */
  permissions: string[];
  /** What the creator's roles grant today: the key never holds more (the creator may have been demoted). */
  creator_permissions: string[];
  /** last_used_at is unset or older than a minute: this use should record itself. */
  use_unrecorded: boolean;
  expires_at: Date | null;
}

/** A login counter as read under its lock: failures in the current window (0 once it has passed). */
export interface LoginCounter {
  key: string;
  max: number;
  failures: number;
  /** Seconds until the window ends. */
  retry_after: number;
}

export interface RefreshTokenRow {
  id: string;
  user_id: string;
  family_id: string;
  expired: boolean;
  spent_at: Date | null;
  revoked_at: Date | null;
}

@Injectable()
export class AuthRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async findCredentials(username: string): Promise<UserCredentials | undefined> {
    const rows = await this.dataSource.query<UserCredentials[]>(
      'SELECT id, username, password_hash, disabled FROM users WHERE username = $1',
      [username],
    );
    return rows[0];
  }

  /** A user with the union of their roles' permissions; read on every request. */
  async findUserGrants(userId: string): Promise<UserGrants | undefined> {
    const rows = await this.dataSource.query<UserGrants[]>(
      `SELECT u.id, u.username, u.email, u.disabled,
              COALESCE(array_agg(DISTINCT ur.role_name) FILTER (WHERE ur.role_name IS NOT NULL), '{}') AS roles,
              COALESCE(array_agg(DISTINCT p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}') AS permissions
         FROM users u
         LEFT JOIN user_roles ur ON ur.user_id = u.id
         LEFT JOIN roles r ON r.name = ur.role_name
         LEFT JOIN LATERAL unnest(r.permissions) AS p(permission) ON true
        WHERE u.id = $1
        GROUP BY u.id`,
      [userId],
    );
    return rows[0];
  }

  /** Permissions for roles named by an external identity provider. */
  async permissionsOfRoles(roles: string[]): Promise<{ roles: string[]; permissions: string[] }> {
    const rows = await this.dataSource.query<{ roles: string[]; permissions: string[] }[]>(
      `SELECT COALESCE(array_agg(DISTINCT r.name), '{}') AS roles,
              COALESCE(array_agg(DISTINCT p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}') AS permissions
         FROM roles r LEFT JOIN LATERAL unnest(r.permissions) AS p(permission) ON true
        WHERE r.name = ANY($1)`,
      [roles],
    );
    return rows[0];
  }

  /**
   * An API key by its public prefix; usable = not revoked, not expired (database clock), creator
   * enabled. One statement also reads the creator's current permissions, which bound the key's.
   */
  async findApiKeyGrants(prefix: string): Promise<ApiKeyGrants | undefined> {
    const rows = await this.dataSource.query<ApiKeyGrants[]>(
      `SELECT k.id, k.name, k.key_hash, k.created_by, u.username AS creator_username, k.expires_at,
              (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > clock_timestamp()) AND NOT u.disabled) AS usable,
              (k.last_used_at IS NULL OR k.last_used_at < clock_timestamp() - ${LAST_USED_RESOLUTION}) AS use_unrecorded,
              COALESCE(array_agg(DISTINCT kr.role_name) FILTER (WHERE kr.role_name IS NOT NULL), '{}') AS roles,
              COALESCE(array_agg(DISTINCT p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}') AS permissions,
              (SELECT COALESCE(array_agg(DISTINCT cp.permission), '{}')
                 FROM user_roles cur JOIN roles cr ON cr.name = cur.role_name
                 CROSS JOIN LATERAL unnest(cr.permissions) AS cp(permission)
                WHERE cur.user_id = u.id) AS creator_permissions
         FROM api_keys k
         JOIN users u ON u.id = k.created_by
         LEFT JOIN api_key_roles kr ON kr.api_key_id = k.id
         LEFT JOIN roles r ON r.name = kr.role_name
         LEFT JOIN LATERAL unnest(r.permissions) AS p(permission) ON true
        WHERE k.prefix = $1
        GROUP BY k.id, u.id`,
      [prefix],
    );
    return rows[0];
  }

  /**
   * Records that a key was used, at most once per LAST_USED_RESOLUTION per key: a busy agent's
   * key would otherwise turn every request into a write on one hot row.
   */
  async recordApiKeyUse(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE api_keys SET last_used_at = clock_timestamp()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < clock_timestamp() - ${LAST_USED_RESOLUTION})`,
      [id],
    );
  }

  async insertRefreshToken(
    manager: EntityManager,
    token: { userId: string; familyId: string; hash: string; ttlSec: number },
  ): Promise<void> {
    await manager.query(
      `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
       VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4))`,
      [token.userId, token.familyId, token.hash, token.ttlSec],
    );
  }

  /** Locks the token row so two concurrent refreshes with one token cannot both succeed. */
  async lockRefreshToken(manager: EntityManager, hash: string): Promise<RefreshTokenRow | undefined> {
    const rows = await manager.query<RefreshTokenRow[]>(
      `SELECT id, user_id, family_id, spent_at, revoked_at, expires_at <= clock_timestamp() AS expired
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
      [hash],
    );
    return rows[0];
  }

  async markSpent(manager: EntityManager, id: string): Promise<void> {
    await manager.query('UPDATE refresh_tokens SET spent_at = clock_timestamp() WHERE id = $1', [id]);
  }

  async revokeFamily(manager: EntityManager, familyId: string): Promise<number> {
    const revoked = await rows<{ id: string }>(
      manager,
      'UPDATE refresh_tokens SET revoked_at = clock_timestamp() WHERE family_id = $1 AND revoked_at IS NULL RETURNING id',
      [familyId],
    );
    return revoked.length;
  }

  async revokeAllForUser(manager: EntityManager, userId: string): Promise<void> {
    await manager.query(
      'UPDATE refresh_tokens SET revoked_at = clock_timestamp() WHERE user_id = $1 AND revoked_at IS NULL',
      [userId],
    );
  }

  /**
   * Locks the login counters of `limits` (creating missing ones at zero), in key order so two
   * attempts never deadlock. Read under the lock, a counter cannot move until this transaction ends:
   * check-then-count is atomic, and a burst gets no more attempts than the limit.
   */
  async lockLoginCounters(manager: EntityManager, limits: { key: string; max: number }[], windowSec: number): Promise<LoginCounter[]> {
    const keys = limits.map((l) => l.key);
    await manager.query(
      `INSERT INTO login_failures (key, failures, window_started_at)
       SELECT k, 0, clock_timestamp() FROM unnest($1::text[]) AS k ORDER BY k
       ON CONFLICT (key) DO NOTHING`,
      [keys],
    );
    return await manager.query<LoginCounter[]>(
      `SELECT f.key, l.max,
              CASE WHEN f.window_started_at <= clock_timestamp() - make_interval(secs => $3) THEN 0 ELSE f.failures END AS failures,
              CEIL(EXTRACT(EPOCH FROM (f.window_started_at + make_interval(secs => $3)) - clock_timestamp()))::int AS retry_after
         FROM login_failures f JOIN unnest($1::text[], $2::int[]) AS l(key, max) ON l.key = f.key
        ORDER BY f.key FOR UPDATE OF f`,
      [keys, limits.map((l) => l.max), windowSec],
    );
  }

  /** Counts an attempt on each key in a fixed window that restarts once it has passed (rows locked by lockLoginCounters). */
  async countLoginAttempt(manager: EntityManager, keys: string[], windowSec: number): Promise<void> {
    await manager.query(
      `UPDATE login_failures SET
         failures = CASE WHEN window_started_at <= clock_timestamp() - make_interval(secs => $2) THEN 1 ELSE failures + 1 END,
         window_started_at = CASE WHEN window_started_at <= clock_timestamp() - make_interval(secs => $2)
                                  THEN clock_timestamp() ELSE window_started_at END
        WHERE key = ANY($1::text[])`,
      [keys, windowSec],
    );
  }

  /** A login succeeded: its own (username, address) counter ends, and the shared ones give back the attempt. */
  async refundLoginAttempt(clearKey: string, refundKeys: string[]): Promise<void> {
    await this.dataSource.query(
      `WITH cleared AS (DELETE FROM login_failures WHERE key = $1)
       UPDATE login_failures SET failures = GREATEST(failures - 1, 0) WHERE key = ANY($2::text[])`,
      [clearKey, refundKeys],
    );
  }
}
