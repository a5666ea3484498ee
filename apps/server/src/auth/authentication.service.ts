import { Injectable } from '@nestjs/common';
import { unauthenticated } from '../common/errors';
import { AuthRepository } from './auth.repository';
import { hashesEqual, parseApiKey, sha256Hex } from './credentials';
import type { Principal } from './principal';
import { TokenService } from './token.service';

/**
 * Turns a bearer credential (our JWT, an identity provider's JWT, or an API key) into a Principal.
 * REST (through the passport strategy), Socket.IO and MCP all authenticate through this one place.
 * Grants are read from the database on every call, so disabling a user or changing a role takes
 * effect on the very next request.
 */
@Injectable()
export class AuthenticationService {
  constructor(
    private readonly repository: AuthRepository,
    private readonly tokens: TokenService,
  ) {}

  async authenticate(credential: string | undefined): Promise<Principal> {
    if (!credential) throw unauthenticated('A bearer token is required');
    const apiKey = parseApiKey(credential);
    if (apiKey) return this.fromApiKey(credential, apiKey.prefix);
    const verified = await this.tokens.verify(credential);
    if (!verified) throw unauthenticated('The token is invalid or expired');
    if (verified.source === 'external') {
      const grants = await this.repository.permissionsOfRoles(verified.roles);
      return {
        kind: 'user',
        id: verified.subject,
        userId: null,
        username: verified.username,
        roles: grants.roles,
        permissions: new Set(grants.permissions),
        actor: { type: 'user', id: verified.subject },
      };
    }
    const user = await this.repository.findUserGrants(verified.userId);
    if (!user || user.disabled) throw unauthenticated('The token is invalid or expired');
    return {
      kind: 'user',
      id: user.id,
      userId: user.id,
      username: user.username,
      roles: user.roles,
      permissions: new Set(user.permissions),
      actor: { type: 'user', id: user.id },
    };
  }

  private async fromApiKey(key: string, prefix: string): Promise<Principal> {
    const grants = await this.repository.findApiKeyGrants(prefix);
    if (!grants || !hashesEqual(grants.key_hash, sha256Hex(key)) || !grants.usable) {
      throw unauthenticated('The API key is invalid, expired or revoked');
    }
    if (grants.use_unrecorded) await this.repository.recordApiKeyUse(grants.id);
    return {
      kind: 'api_key',
      id: grants.id,
      userId: grants.created_by,
      username: grants.creator_username,
      roles: grants.roles,
      permissions: new Set(grants.permissions),
      actor: { type: 'api_key', id: grants.id },
    };
  }
}

/** `Authorization: Bearer <credential>`; nothing else (never a query string) is accepted. */
export function bearerFrom(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return match ? match[1] : undefined;
}
