import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { JwksClient } from 'jwks-rsa';
import { randomUUID } from 'node:crypto';
import { InjectConfig } from '../config/config.module';
import type { AppConfig } from '../config/app-config';
import { SecretsService } from '../secrets/secrets.service';

export const LOCAL_ISSUER = 'agentmanager';

/** `expiresAt`: the token's `exp` in epoch milliseconds (null when it has none). */
export type VerifiedToken =
  | { source: 'local'; userId: string; expiresAt: number | null }
  | { source: 'external'; subject: string; username: string | null; roles: string[]; expiresAt: number | null };

const EXTERNAL_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'] as const;

/**
 * Signs our own access tokens (HS256, key from JWT_SECRET or generated once into the database)
 * and verifies them, plus RS256/ES256 tokens from an identity provider when JWT_PUBLIC_KEY or
 * JWKS_URL is set. The algorithm list is fixed per source, so a token cannot pick its own verifier.
 */
@Injectable()
export class TokenService {
  private readonly jwt = new JwtService({});
  private readonly jwks: JwksClient | undefined;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly secrets: SecretsService,
  ) {
    this.jwks = config.jwksUrl
      ? new JwksClient({ jwksUri: config.jwksUrl, cache: true, cacheMaxAge: 600_000, rateLimit: true, timeout: 5_000 })
      : undefined;
  }

  private async signingKey(): Promise<string> {
    return this.config.jwtSecret ?? (await this.secrets.getOrCreate('jwt_signing_key'));
  }

  async signAccessToken(user: { id: string; username: string }): Promise<string> {
    return this.jwt.signAsync(
      { sub: user.id, username: user.username, typ: 'access' },
      {
        secret: await this.signingKey(),
        algorithm: 'HS256',
        expiresIn: this.config.accessTokenTtlSec,
        issuer: LOCAL_ISSUER,
        jwtid: randomUUID(),
      },
    );
  }

  /** Returns null for any token that does not verify. */
  async verify(token: string): Promise<VerifiedToken | null> {
    const decoded = this.jwt.decode<{ header?: { alg?: string; kid?: string } } | null>(token, { complete: true });
    const alg = decoded?.header?.alg;
    try {
      if (alg === 'HS256') {
        const claims = await this.jwt.verifyAsync<{ sub?: unknown; typ?: unknown; exp?: unknown }>(token, {
          secret: await this.signingKey(),
          algorithms: ['HS256'],
          issuer: LOCAL_ISSUER,
        });
        return typeof claims.sub === 'string' && claims.typ === 'access' ? { source: 'local', userId: claims.sub, expiresAt: expiryOf(claims) } : null;
      }
      if (alg && (EXTERNAL_ALGORITHMS as readonly string[]).includes(alg) && (this.jwks || this.config.jwtPublicKey)) {
        const publicKey = this.jwks
          ? (await this.jwks.getSigningKey(decoded?.header?.kid)).getPublicKey()
          : (this.config.jwtPublicKey as string).replace(/\\n/g, '\n');
        const claims = await this.jwt.verifyAsync<Record<string, unknown>>(token, {
          publicKey,
          algorithms: [...EXTERNAL_ALGORITHMS],
          ...(this.config.jwtIssuer ? { issuer: this.config.jwtIssuer } : {}),
          ...(this.config.jwtAudience ? { audience: this.config.jwtAudience } : {}),
        });
        if (typeof claims.sub !== 'string') return null;
        const rawRoles = readClaim(claims, this.config.jwtRolesClaim);
        const roles = Array.isArray(rawRoles) ? rawRoles.filter((r): r is string => typeof r === 'string') : [];
        const username = typeof claims.preferred_username === 'string' ? claims.preferred_username : null;
        return { source: 'external', subject: claims.sub, username, roles, expiresAt: expiryOf(claims) };
      }
    } catch {
      return null;
    }
    return null;
  }
}

function expiryOf(claims: { exp?: unknown }): number | null {
  return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
}

/** Reads a claim by a dotted path, e.g. `realm_access.roles`. */
function readClaim(claims: Record<string, unknown>, path: string): unknown {
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
