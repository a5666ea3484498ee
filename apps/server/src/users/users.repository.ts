import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, FindOptionsSelect, Repository } from 'typeorm';
import { cursorTimestamp, cursorTimestampParam } from '../common/pagination';
import { UserEntity } from './user.entity';
import { UserRoleEntity } from './user-role.entity';

/** A user as the API shows it: without the password hash, with the names of its roles in order. */
export type UserWithRoles = Omit<UserEntity, 'passwordHash'> & { roles: string[] };

/** A listed user and its keyset position: created_at in microseconds (a Date keeps milliseconds). */
export type ListedUser = UserWithRoles & { cursorTs: string };

const SHOWN: FindOptionsSelect<UserEntity> = { id: true, username: true, email: true, disabled: true, createdAt: true, updatedAt: true };

@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(UserEntity) private readonly users: Repository<UserEntity>) {}

  async findById(id: string, manager: EntityManager = this.users.manager): Promise<UserWithRoles | null> {
    const user = await manager.getRepository(UserEntity).findOne({ select: SHOWN, where: { id } });
    if (!user) return null;
    const grants = await manager.getRepository(UserRoleEntity).find({
      select: { roleName: true },
      where: { userId: id },
      order: { roleName: 'ASC' },
    });
    return { ...user, roles: grants.map((g) => g.roleName) };
  }

  /**
   * Oldest first, keyset on (created_at, id) to the microsecond, so a page never repeats the last
   * row of the one before; one statement with each user's roles aggregated.
   */
  async list(filter: { username?: string; role?: string }, limit: number, after?: [string, string]): Promise<ListedUser[]> {
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
    return await this.users.manager.query<ListedUser[]>(
      `SELECT u.id, u.username, u.email, u.disabled, u.created_at AS "createdAt", u.updated_at AS "updatedAt",
              ${cursorTimestamp('u.created_at')} AS "cursorTs",
              COALESCE(array_agg(ur.role_name ORDER BY ur.role_name) FILTER (WHERE ur.role_name IS NOT NULL), '{}') AS roles
         FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id
         ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
        GROUP BY u.id ORDER BY u.created_at, u.id LIMIT $${params.length}`,
      params,
    );
  }

  async insert(manager: EntityManager, user: Pick<UserEntity, 'username' | 'email' | 'passwordHash' | 'disabled'>): Promise<string> {
    const inserted = await manager.getRepository(UserEntity).insert(user);
    return (inserted.identifiers[0] as Pick<UserEntity, 'id'>).id;
  }

  /** Sets the given fields (undefined: unchanged) and stamps updated_at. */
  async update(
    manager: EntityManager,
    id: string,
    changes: Partial<Pick<UserEntity, 'email' | 'passwordHash' | 'disabled'>>,
  ): Promise<void> {
    await manager.getRepository(UserEntity).update({ id }, { ...changes, updatedAt: () => 'clock_timestamp()' });
  }

  async replaceRoles(manager: EntityManager, userId: string, roles: string[]): Promise<void> {
    const grants = manager.getRepository(UserRoleEntity);
    await grants.delete({ userId });
    if (roles.length) await grants.insert(roles.map((roleName) => ({ userId, roleName })));
  }

  async delete(manager: EntityManager, id: string): Promise<boolean> {
    const deleted = await manager.getRepository(UserEntity).delete({ id });
    return (deleted.affected ?? 0) > 0;
  }

  /**
   * Enabled users holding the admin role, locked (FOR UPDATE, in id order) so two concurrent
   * demotions cannot both conclude that another admin remains.
   */
  async lockEnabledAdmins(manager: EntityManager): Promise<string[]> {
    const admins = await manager.query<Pick<UserEntity, 'id'>[]>(
      `SELECT u.id FROM users u JOIN user_roles ur ON ur.user_id = u.id
        WHERE ur.role_name = 'admin' AND NOT u.disabled ORDER BY u.id FOR UPDATE OF u`,
    );
    return admins.map((a) => a.id);
  }

  async count(manager: EntityManager): Promise<number> {
    return await manager.getRepository(UserEntity).count();
  }
}
