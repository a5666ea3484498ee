import { Injectable, type OnModuleInit } from '@nestjs/common';
import { hashesEqual, parseApiKey, sha256Hex } from '../access/credentials';
import { intersectGrants } from '../access/permissions';
import { externalPrincipalId, type Principal } from '../access/principal';
import { unauthenticated } from '../common/errors';
import { PgListener } from '../database/pg-listener.service';
import { AuthRepository } from './auth.repository';
import { TokenService, type VerifiedToken } from './token.service';

/** How long a resolved credential is reused without asking the database again. */
const CACHE_TTL_MS = 5000;
const CACHE_MAX_ENTRIES = 10_000;

interface Cached {
  principal: Principal;
  until: number;
}

interface Resolved {
  principal: Principal;
  expiresAt: number | null;
}

/**
 * Turns a verified credential (our JWT, an identity provider's JWT, or an API key) into a Principal.
 * REST reaches it through the passport strategies (`api-key`, `jwt`, `oidc`); Socket.IO, which is
 * not passport, through `authenticate()`, which runs the same checks. MCP is REST.
 *
 * A resolved principal is reused for up to CACHE_TTL_MS (never past the credential's own expiry),
 * which saves a signature check and a database round trip on nearly every request of a busy agent.
 * Every change to who may do what — a user disabled, deleted or re-roled, a role edited or deleted,
 * a key revoked — signals `am_auth` when it commits (`revokeCachedPrincipals`): this instance drops
 * its cache at once and the others a few milliseconds later, so a revoked key stops on its next
 * request. Should that notification be lost (the LISTEN connection reconnecting), the TTL bounds
 * the delay.
 */
@Injectable()
export class AuthenticationService implements OnModuleInit {
  /** Keyed by the credential's SHA-256, so no secret is kept in memory longer than a request. */
  private readonly cache = new Map<string, Cached>();
  /** Bumped by every invalidation: a lookup that raced one is not cached. */
  private generation = 0;

  constructor(
    private readonly repository: AuthRepository,
    private readonly tokens: TokenService,
    private readonly listener: PgListener,
  ) {}

  onModuleInit(): void {
    this.listener.on('am_auth', () => {
      this.cache.clear();
      this.generation++;
    });
  }

  /** The principal of a credential resolved less than CACHE_TTL_MS ago: no signature check, no query. */
  cached(credential: string): Principal | undefined {
    const hit = this.cache.get(sha256Hex(credential));
    return hit && hit.until > Date.now() ? hit.principal : undefined;
  }

  /** For callers outside passport: the cache, else what the strategies do — an API key, else a JWT. */
  async authenticate(credential: string | undefined): Promise<Principal> {
    if (!credential) throw unauthenticated('A bearer token is required');
    const hit = this.cached(credential);
    if (hit) return hit;
    if (parseApiKey(credential)) return this.apiKeyPrincipal(credential);
    const verified = await this.tokens.verify(credential);
    if (!verified) throw unauthenticated('The token is invalid or expired');
    return this.tokenPrincipal(credential, verified);
  }

  /** Strategy `api-key`: the key's row holds its hash, grants and state. */
  apiKeyPrincipal(key: string): Promise<Principal> {
    return this.remember(key, () => this.fromApiKey(key));
  }

  /** Strategies `jwt` and `oidc`, once the token's signature, expiry and issuer are verified. */
  tokenPrincipal(token: string, verified: VerifiedToken): Promise<Principal> {
    return this.remember(token, () => (verified.source === 'external' ? this.fromIdentityToken(verified) : this.fromAccessToken(verified)));
  }

  private async remember(credential: string, resolve: () => Promise<Resolved>): Promise<Principal> {
    const now = Date.now();
    const generation = this.generation;
    const { principal, expiresAt } = await resolve();
    if (generation === this.generation) {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(sha256Hex(credential), { principal, until: Math.min(now + CACHE_TTL_MS, expiresAt ?? Infinity) });
    }
    return principal;
  }

  private async fromAccessToken(verified: VerifiedToken & { source: 'local' }): Promise<Resolved> {
    const user = await this.repository.findUserGrants(verified.userId);
    if (!user || user.disabled) throw unauthenticated('The token is invalid or expired');
    const principal: Principal = {
      kind: 'user',
      id: user.id,
      userId: user.id,
      username: user.username,
      roles: user.roles,
      permissions: new Set(user.permissions),
      actor: { type: 'user', id: user.id },
    };
    return { principal, expiresAt: verified.expiresAt };
  }

  private async fromIdentityToken(verified: VerifiedToken & { source: 'external' }): Promise<Resolved> {
    const grants = await this.repository.permissionsOfRoles(verified.roles);
    const id = externalPrincipalId(verified.subject);
    const principal: Principal = {
      kind: 'user',
      id,
      subject: verified.subject,
      userId: null,
      username: verified.username,
      roles: grants.roles,
      permissions: new Set(grants.permissions),
      actor: { type: 'user', id },
    };
    return { principal, expiresAt: verified.expiresAt };
  }

  private async fromApiKey(key: string): Promise<Resolved> {
    const prefix = parseApiKey(key)?.prefix;
    const grants = prefix ? await this.repository.findApiKeyGrants(prefix) : undefined;
    if (!grants || !hashesEqual(grants.key_hash, sha256Hex(key)) || !grants.usable) {
      throw unauthenticated('The API key is invalid, expired or revoked');
    }
    if (grants.use_unrecorded) await this.repository.recordApiKeyUse(grants.id);
    const principal: Principal = {
      kind: 'api_key',
      id: grants.id,
      userId: grants.created_by,
      username: grants.creator_username,
      roles: grants.roles,
      // A key never outlives its creator's demotion: it holds what both its roles and its creator grant.
      permissions: intersectGrants(grants.permissions, grants.creator_permissions),
      actor: { type: 'api_key', id: grants.id },
    };
    return { principal, expiresAt: grants.expires_at ? grants.expires_at.getTime() : null };
  }
}

/** `Authorization: Bearer <credential>`; nothing else (never a query string) is accepted. */
export function bearerFrom(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return match ? match[1] : undefined;
}
