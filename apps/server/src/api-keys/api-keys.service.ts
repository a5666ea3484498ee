import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { newApiKey } from '../access/credentials';
import { WILDCARD } from '../access/permissions';
import type { Principal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { DomainError, forbidden, notFound, validationFailed } from '../common/errors';
import type { ListQueryDto } from '../common/list-query.dto';
import { decodeCursor, page } from '../common/pagination';
import { revokeCachedPrincipals } from '../outbox/commit-journal';
import { excessPermissions } from '../roles/permission-bounds';
import { RolesRepository } from '../roles/roles.repository';
import { ApiKeysRepository, type ListedApiKey } from './api-keys.repository';
import type { ApiKeyDto, ApiKeyListDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto';

function toDto(key: ListedApiKey): ApiKeyDto {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    roles: key.roles,
    created_by: key.createdBy,
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    created_at: key.createdAt.toISOString(),
  };
}

/**
 * Whose keys the caller may see and revoke: holders of `*` (admins) every key, anyone else only
 * the keys their user created (an API key acts for its creator). null: no keys at all.
 */
type KeyScope = { all: true } | { createdBy: string } | null;

function scopeOf(principal: Principal): KeyScope {
  if (principal.permissions.has(WILDCARD)) return { all: true };
  return principal.userId ? { createdBy: principal.userId } : null;
}

@Injectable()
export class ApiKeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keys: ApiKeysRepository,
    private readonly roles: RolesRepository,
    private readonly audit: AuditService,
  ) {}

  async list(principal: Principal, query: ListQueryDto): Promise<ApiKeyListDto> {
    const after = decodeCursor(query.cursor, ['timestamptz', 'uuid']);
    const scope = scopeOf(principal);
    if (!scope) return { api_keys: [], next_cursor: null };
    const rows = await this.keys.list(
      'all' in scope ? null : scope.createdBy,
      query.limit + 1,
      after ? [after[0], after[1]] : undefined,
    );
    const { items, nextCursor } = page(rows, query.limit, (r) => [r.createdAtKey, r.id]);
    return { api_keys: items.map(toDto), next_cursor: nextCursor };
  }

  async create(principal: Principal, body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    if (principal.kind === 'api_key') throw forbidden('An API key cannot create API keys; sign in as a user');
    const creator = principal.userId;
    if (!creator) throw forbidden('API keys belong to local users; sign in with a local account');
    const roles = [...new Set(body.roles)];
    const material = newApiKey();
    return inTransaction(this.dataSource, async (manager) => {
      const existing = new Set(await this.roles.existingNames(manager, roles));
      const unknown = roles.filter((r) => !existing.has(r));
      if (unknown.length) {
        throw validationFailed([{ field: 'roles', errors: unknown.map((r) => `unknown role: ${r}`) }]);
      }
      if (body.expires_at !== undefined && !(await this.keys.isInFuture(manager, body.expires_at))) {
        throw validationFailed([{ field: 'expires_at', errors: ['expires_at must be in the future'] }]);
      }
      const excess = excessPermissions(await this.roles.sharePermissionsOf(manager, roles), principal.permissions);
      if (excess.length) {
        throw new DomainError('forbidden', 'A key cannot hold permissions its creator does not hold', {
          excess_permissions: excess,
        });
      }
      const row = await this.keys.insert(manager, {
        name: body.name,
        prefix: material.prefix,
        keyHash: material.hash,
        createdBy: creator,
        expiresAt: body.expires_at ?? null,
        roles,
      });
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'api_key.create',
        resourceType: 'api_key',
        resourceId: row.id,
        details: { name: body.name, prefix: material.prefix, roles, expires_at: row.expiresAt?.toISOString() ?? null },
      });
      return {
        id: row.id,
        name: body.name,
        key: material.key,
        prefix: material.prefix,
        roles: [...roles].sort(),
        expires_at: row.expiresAt?.toISOString() ?? null,
        created_at: row.createdAt.toISOString(),
      };
    });
  }

  /** Revoking an already revoked key changes nothing and succeeds again. */
  async revoke(principal: Principal, id: string): Promise<void> {
    const scope = scopeOf(principal);
    if (!scope) throw notFound('API key', id);
    await inTransaction(this.dataSource, async (manager) => {
      const key = await this.keys.lockForRevoke(manager, id, 'all' in scope ? null : scope.createdBy);
      if (!key) throw notFound('API key', id);
      if (key.revokedAt !== null) return;
      await this.keys.revoke(manager, id);
      revokeCachedPrincipals(manager);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'api_key.revoke',
        resourceType: 'api_key',
        resourceId: id,
        details: { name: key.name, prefix: key.prefix },
      });
    });
  }
}
