import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, In, MoreThan, type QueryDeepPartialEntity, type Repository } from 'typeorm';
import { RoleEntity } from './role.entity';

@Injectable()
export class RolesRepository {
  constructor(@InjectRepository(RoleEntity) private readonly roles: Repository<RoleEntity>) {}

  /** By name, keyset on name. */
  async list(limit: number, afterName?: string): Promise<RoleEntity[]> {
    return await this.roles.find({
      where: afterName === undefined ? {} : { name: MoreThan(afterName) },
      order: { name: 'ASC' },
      take: limit,
    });
  }

  async findByName(name: string, manager: EntityManager = this.roles.manager): Promise<RoleEntity | null> {
    return await manager.getRepository(RoleEntity).findOneBy({ name });
  }

  /**
   * Locks the role for an edit or a delete (FOR UPDATE). The lock also holds off concurrent grants
   * of the role (their foreign-key check needs a share lock on this row) until the transaction ends.
   */
  async lockByName(manager: EntityManager, name: string): Promise<RoleEntity | null> {
    return await manager.getRepository(RoleEntity).findOne({ where: { name }, lock: { mode: 'pessimistic_write' } });
  }

  /** The names among `names` that are roles. */
  async existingNames(manager: EntityManager, names: string[]): Promise<string[]> {
    if (!names.length) return [];
    const found = await manager.getRepository(RoleEntity).find({ select: { name: true }, where: { name: In(names) } });
    return found.map((r) => r.name);
  }

  /**
   * The union of the roles' permissions. Share-locks the roles (FOR SHARE, in name order) so an
   * edit cannot widen them between this check and the commit of whatever is granted them.
   */
  async sharePermissionsOf(manager: EntityManager, names: string[]): Promise<string[]> {
    if (!names.length) return [];
    const found = await manager.getRepository(RoleEntity).find({
      select: { name: true, permissions: true },
      where: { name: In(names) },
      order: { name: 'ASC' },
      lock: { mode: 'pessimistic_read' },
    });
    return [...new Set(found.flatMap((r) => r.permissions))];
  }

  async insert(manager: EntityManager, role: Pick<RoleEntity, 'name' | 'description' | 'permissions'>): Promise<RoleEntity> {
    const roles = manager.getRepository(RoleEntity);
    await roles.insert({ ...role, builtIn: false, createdAt: () => 'clock_timestamp()', updatedAt: () => 'clock_timestamp()' });
    return await roles.findOneByOrFail({ name: role.name });
  }

  async update(
    manager: EntityManager,
    name: string,
    changes: Partial<Pick<RoleEntity, 'description' | 'permissions'>>,
  ): Promise<RoleEntity> {
    const roles = manager.getRepository(RoleEntity);
    const set: QueryDeepPartialEntity<RoleEntity> = { updatedAt: () => 'clock_timestamp()' };
    // null (which @IsOptional lets through) leaves a column as it was, as undefined does.
    if (changes.description != null) set.description = changes.description;
    if (changes.permissions != null) set.permissions = changes.permissions;
    await roles.update({ name }, set);
    return await roles.findOneByOrFail({ name });
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

  /**
   * Removes the role from revoked and expired keys (by the database clock), which can never use it
   * again, in the one statement that decides which keys are dead.
   */
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
    await manager.getRepository(RoleEntity).delete({ name });
  }
}
