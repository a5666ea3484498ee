import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, isUniqueViolation } from '@agentmanager/database';
import { PasswordHasher } from '../access/password-hasher';
import { WILDCARD } from '../access/permissions';
import { isAdmin, type Principal, SYSTEM_ACTOR } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { DomainError, forbidden, notFound, validationFailed } from '../common/errors';
import { InjectLogger } from '../common/logger.module';
import { decodeCursor, page } from '../common/pagination';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { revokeCachedPrincipals } from '../outbox/commit-journal';
import { excessPermissions } from '../roles/permission-bounds';
import { RolesRepository } from '../roles/roles.repository';
import type { CreateUserDto, ListUsersQueryDto, UpdateUserDto, UserDto, UserListDto } from './dto/user.dto';
import { USER_SESSIONS, type UserSessions } from './user-sessions';
import { UsersRepository, type UserWithRoles } from './users.repository';

const FIRST_ADMIN_LOCK = 7_316_002;

function toDto(user: UserWithRoles): UserDto {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    roles: user.roles,
    disabled: user.disabled,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
    private readonly users: UsersRepository,
    private readonly roles: RolesRepository,
    @Inject(USER_SESSIONS) private readonly sessions: UserSessions,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
  ) {}

  /** Creates the first admin when there are no users at all (once, even with many instances starting). */
  async onApplicationBootstrap(): Promise<void> {
    const generated = this.config.adminPassword ? undefined : randomBytes(18).toString('base64url');
    const password = this.config.adminPassword ?? generated ?? '';
    const created = await inTransaction(this.dataSource, async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [FIRST_ADMIN_LOCK]);
      if ((await this.users.count(manager)) > 0) return false;
      const username = this.config.adminUsername.toLowerCase();
      const id = await this.users.insert(manager, {
        username,
        email: this.config.adminEmail,
        passwordHash: await this.hasher.hash(password),
        disabled: false,
      });
      await this.users.replaceRoles(manager, id, ['admin']);
      await this.audit.record(manager, {
        actor: SYSTEM_ACTOR,
        action: 'user.create',
        resourceType: 'user',
        resourceId: id,
        details: { username, roles: ['admin'], reason: 'first_admin' },
      });
      return true;
    });
    if (created && generated) {
      // Printed once, to the console only: it is not stored anywhere in clear.
      process.stdout.write(
        `\n  AgentManager created the first admin.\n    username: ${this.config.adminUsername.toLowerCase()}\n    password: ${generated}\n  Log in and change it (PATCH /api/v1/users/{id}); it will not be shown again.\n\n`,
      );
    } else if (created) {
      this.logger.info({ username: this.config.adminUsername }, 'created the first admin from ADMIN_USERNAME/ADMIN_PASSWORD');
    }
  }

  async list(query: ListUsersQueryDto): Promise<UserListDto> {
    const after = decodeCursor(query.cursor, ['micros', 'uuid']) as [string, string] | undefined;
    const rows = await this.users.list({ username: query.username, role: query.role }, query.limit + 1, after);
    const { items, nextCursor } = page(rows, query.limit, (r) => [r.cursorTs, r.id]);
    return { users: items.map(toDto), next_cursor: nextCursor };
  }

  async get(id: string): Promise<UserDto> {
    const row = await this.users.findById(id);
    if (!row) throw notFound('User', id);
    return toDto(row);
  }

  async create(principal: Principal, body: CreateUserDto): Promise<UserDto> {
    const roles = [...new Set(body.roles ?? ['viewer'])];
    const passwordHash = await this.hasher.hash(body.password);
    const username = body.username.toLowerCase();
    try {
      return await inTransaction(this.dataSource, async (manager) => {
        await this.assertRolesExist(manager, roles);
        await this.assertWithinCaller(manager, principal, roles);
        const id = await this.users.insert(manager, {
          username,
          email: body.email ?? null,
          passwordHash,
          disabled: body.disabled ?? false,
        });
        await this.users.replaceRoles(manager, id, roles);
        await this.audit.record(manager, {
          actor: principal.actor,
          action: 'user.create',
          resourceType: 'user',
          resourceId: id,
          details: { username, roles, disabled: body.disabled ?? false },
        });
        return toDto((await this.users.findById(id, manager)) as UserWithRoles);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new DomainError('already_exists', `A user named ${username} already exists`, { field: 'username' });
      }
      throw err;
    }
  }

  async update(principal: Principal, id: string, body: UpdateUserDto): Promise<UserDto> {
    if (body.username !== undefined) {
      throw validationFailed([{ field: 'username', errors: ['username cannot be changed'] }]);
    }
    const passwordHash = body.password !== undefined ? await this.hasher.hash(body.password) : undefined;
    return inTransaction(this.dataSource, async (manager) => {
      const before = await this.users.findById(id, manager);
      if (!before) throw notFound('User', id);
      const roles = body.roles ? [...new Set(body.roles)] : undefined;
      if (roles) await this.assertRolesExist(manager, roles);
      if (roles) await this.assertWithinCaller(manager, principal, roles, before.roles);
      const guarded = passwordHash !== undefined || roles !== undefined || body.disabled !== undefined;
      if (guarded) await this.assertMayManage(manager, principal, before);
      const losesAdmin =
        (roles !== undefined && before.roles.includes('admin') && !roles.includes('admin')) || body.disabled === true;
      if (losesAdmin) await this.assertAnotherAdminRemains(manager, id);
      await this.users.update(manager, id, { email: body.email, passwordHash, disabled: body.disabled });
      if (roles) await this.users.replaceRoles(manager, id, roles);
      if (roles || body.disabled !== undefined) revokeCachedPrincipals(manager);
      // A new password or a disabled account ends every session at once.
      if (passwordHash !== undefined || body.disabled === true) await this.sessions.revokeAllForUser(manager, id);
      const changed = Object.keys(body).filter((k) => k !== 'password');
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'user.update',
        resourceType: 'user',
        resourceId: id,
        details: {
          changed: body.password !== undefined ? [...changed, 'password_changed'] : changed,
          ...(roles ? { roles_before: before.roles, roles_after: roles } : {}),
          ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        },
      });
      return toDto((await this.users.findById(id, manager)) as UserWithRoles);
    });
  }

  async remove(principal: Principal, id: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      const before = await this.users.findById(id, manager);
      if (!before) throw notFound('User', id);
      if (principal.userId === id && principal.kind === 'user') {
        throw new DomainError('conflict', 'You cannot delete yourself');
      }
      await this.assertMayManage(manager, principal, before);
      if (before.roles.includes('admin')) await this.assertAnotherAdminRemains(manager, id);
      await this.users.delete(manager, id);
      revokeCachedPrincipals(manager);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'user.delete',
        resourceType: 'user',
        resourceId: id,
        details: { username: before.username },
      });
    });
  }

  private async assertRolesExist(manager: EntityManager, roles: string[]): Promise<void> {
    const existing = new Set(await this.roles.existingNames(manager, roles));
    const unknown = roles.filter((r) => !existing.has(r));
    if (unknown.length) {
      throw validationFailed([{ field: 'roles', errors: unknown.map((r) => `unknown role: ${r}`) }]);
    }
  }

  /** Nobody hands out roles whose permissions they do not hold themselves (as for roles and API keys). */
  private async assertWithinCaller(manager: EntityManager, principal: Principal, roles: string[], existing: string[] = []): Promise<void> {
    const added = roles.filter((r) => !existing.includes(r));
    const excess = excessPermissions(await this.roles.sharePermissionsOf(manager, added), principal.permissions);
    if (excess.length) {
      throw new DomainError('forbidden', 'You cannot grant roles with permissions you do not hold yourself', {
        excess_permissions: excess,
      });
    }
  }

  /**
   * The password, roles or disabled state of a user who holds more than the caller can be changed
   * (and the user deleted) only with `*`: otherwise `users:write` would reset an admin's password
   * and log in as them.
   */
  private async assertMayManage(manager: EntityManager, principal: Principal, target: UserWithRoles): Promise<void> {
    if (isAdmin(principal)) return;
    if (excessPermissions(await this.roles.sharePermissionsOf(manager, target.roles), principal.permissions).length) {
      throw forbidden(`Changing this user needs the ${WILDCARD} permission: they hold permissions you do not`);
    }
  }

  private async assertAnotherAdminRemains(manager: EntityManager, userId: string): Promise<void> {
    const admins = await this.users.lockEnabledAdmins(manager);
    if (!admins.some((a) => a !== userId)) {
      throw new DomainError('conflict', 'This would leave no enabled admin');
    }
  }
}
