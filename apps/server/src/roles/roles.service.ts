import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { inTransaction, isUniqueViolation } from '@agentmanager/database';
import { isGrantablePermission, WILDCARD } from '../access/permissions';
import type { Principal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { DomainError, notFound, validationFailed } from '../common/errors';
import type { ListQueryDto } from '../common/list-query.dto';
import { decodeCursor, page } from '../common/pagination';
import { revokeCachedPrincipals } from '../outbox/commit-journal';
import type { CreateRoleDto, RoleDto, RoleListDto, UpdateRoleDto } from './dto/role.dto';
import { excessPermissions } from './permission-bounds';
import type { RoleEntity } from './role.entity';
import { RolesRepository } from './roles.repository';

const ADMIN_ROLE = 'admin';

function toDto(role: RoleEntity): RoleDto {
  return {
    name: role.name,
    description: role.description,
    permissions: role.permissions,
    built_in: role.builtIn,
    created_at: role.createdAt.toISOString(),
    updated_at: role.updatedAt.toISOString(),
  };
}

/** Drops duplicates (keeping the first), and refuses anything that is not a grantable permission. */
function checkedPermissions(permissions: string[]): string[] {
  const unique = [...new Set(permissions)];
  const bad = unique.filter((p) => !isGrantablePermission(p));
  if (bad.length) {
    throw validationFailed(
      [{ field: 'permissions', errors: bad.map((p) => `unknown permission: ${p}`) }],
      `Unknown permissions: ${bad.join(', ')}`,
    );
  }
  return unique;
}

/** Nobody hands out what they do not hold themselves. */
function assertWithinCaller(principal: Principal, permissions: string[], existing?: string[]): void {
  const excess = excessPermissions(permissions, principal.permissions, new Set(existing));
  if (excess.length) {
    throw new DomainError('forbidden', 'You cannot grant permissions you do not hold yourself', {
      excess_permissions: excess,
    });
  }
}

@Injectable()
export class RolesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly roles: RolesRepository,
    private readonly audit: AuditService,
  ) {}

  async list(query: ListQueryDto): Promise<RoleListDto> {
    const after = decodeCursor(query.cursor, ['text']);
    const rows = await this.roles.list(query.limit + 1, after?.[0]);
    const { items, nextCursor } = page(rows, query.limit, (r) => [r.name]);
    return { roles: items.map(toDto), next_cursor: nextCursor };
  }

  async get(name: string): Promise<RoleDto> {
    const row = await this.roles.findByName(name);
    if (!row) throw notFound('Role', name);
    return toDto(row);
  }

  async create(principal: Principal, body: CreateRoleDto): Promise<RoleDto> {
    const permissions = checkedPermissions(body.permissions ?? []);
    assertWithinCaller(principal, permissions);
    try {
      return await inTransaction(this.dataSource, async (manager) => {
        const row = await this.roles.insert(manager, { name: body.name, description: body.description ?? '', permissions });
        await this.audit.record(manager, {
          actor: principal.actor,
          action: 'role.create',
          resourceType: 'role',
          resourceId: row.name,
          details: { description: row.description, permissions },
        });
        return toDto(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new DomainError('already_exists', `A role named ${body.name} already exists`, { field: 'name' });
      }
      throw err;
    }
  }

  async update(principal: Principal, name: string, body: UpdateRoleDto): Promise<RoleDto> {
    const permissions = body.permissions ? checkedPermissions(body.permissions) : undefined;
    return inTransaction(this.dataSource, async (manager) => {
      const before = await this.roles.lockByName(manager, name);
      if (!before) throw notFound('Role', name);
      if (permissions) {
        if (before.builtIn && permissions.length === 0) {
          throw new DomainError('conflict', `The built-in role ${name} cannot be emptied`);
        }
        if (before.builtIn && name === ADMIN_ROLE && !permissions.includes(WILDCARD)) {
          throw new DomainError('conflict', 'The admin role must keep the * permission');
        }
        assertWithinCaller(principal, permissions, before.permissions);
      }
      const after = await this.roles.update(manager, name, { description: body.description, permissions });
      if (permissions) revokeCachedPrincipals(manager);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'role.update',
        resourceType: 'role',
        resourceId: name,
        details: {
          changed: Object.keys(body),
          ...(permissions ? { permissions_before: before.permissions, permissions_after: after.permissions } : {}),
          ...(body.description !== undefined ? { description: after.description } : {}),
        },
      });
      return toDto(after);
    });
  }

  async remove(principal: Principal, name: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      // The row lock makes the holder count final: a concurrent grant waits for it, then fails its foreign key.
      const before = await this.roles.lockByName(manager, name);
      if (!before) throw notFound('Role', name);
      if (before.builtIn) throw new DomainError('conflict', `The built-in role ${name} cannot be deleted`);
      const holders = await this.roles.countHolders(manager, name);
      if (holders.users > 0 || holders.api_keys > 0) {
        throw new DomainError(
          'in_use',
          `The role ${name} is still held by ${holders.users} user(s) and ${holders.api_keys} API key(s)`,
          holders,
        );
      }
      const detached = await this.roles.detachFromDeadKeys(manager, name);
      await this.roles.delete(manager, name);
      revokeCachedPrincipals(manager);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'role.delete',
        resourceType: 'role',
        resourceId: name,
        details: { permissions: before.permissions, detached_dead_api_keys: detached },
      });
    });
  }
}
