import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { passportJwtSecret } from 'jwks-rsa';
import { randomUUID } from 'node:crypto';
import type { SecretOrKeyProvider, StrategyOptions } from 'passport-jwt';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { SecretsService } from '../secrets/secrets.service';

export const LOCAL_ISSUER = 'agentmanager';

/** `expiresAt`: the token's `exp` in epoch milliseconds (null when it has none). */
export type VerifiedToken =
  | { source: 'local'; userId: string; expiresAt: number | null }
  | { source: 'external'; subject: string; username: string | null; roles: string[]; expiresAt: number | null };

export type JwtClaims = Record<string, unknown>;

/** How one kind of JWT is verified (`options`, as passport-jwt takes them), and what its claims mean (`read`). */
export interface JwtVerification {
  options: {
    secretOrKeyProvider: SecretOrKeyProvider;
    algorithms: NonNullable<StrategyOptions['algorithms']>;
    issuer?: string;
    audience?: string;
  };
  /** The claims of a token that verified, or null when they do not fit this kind of token. */
  read(claims: JwtClaims): VerifiedToken | null;
}

const EXTERNAL_ALGORITHMS: JwtVerification['options']['algorithms'] = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'];

/**
 * Signs our own access tokens (HS256, key from JWT_SECRET or generated once into the database).
 * Verification is described once per kind of token, as passport-jwt options: `accessTokens` (ours)
 * and `identityTokens` (RS/ES/PS from an identity provider, keyed by JWT_PUBLIC_KEY or by
 * JWKS_URL through jwks-rsa's passport helper). The `jwt` and `oidc` strategies are built from
 * them, and `verify()` applies them to credentials that do not come through passport. Each
 * algorithm list is fixed, so a token cannot pick its own verifier.
 */
@Injectable()
export class TokenService {
  private readonly jwt = new JwtService({});
  readonly accessTokens: JwtVerification;
  readonly identityTokens: JwtVerification;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly secrets: SecretsService,
  ) {
    this.accessTokens = {
      options: {
        secretOrKeyProvider: (_req, _token, done) => {
          this.signingKey().then((key) => done(null, key), done);
        },
        algorithms: ['HS256'],
        issuer: LOCAL_ISSUER,
      },
      read: (claims) =>
        typeof claims.sub === 'string' && claims.typ === 'access' ? { source: 'local', userId: claims.sub, expiresAt: expiryOf(claims) } : null,
    };
    this.identityTokens = {
      options: {
        secretOrKeyProvider: identityProviderKeys(config),
        algorithms: EXTERNAL_ALGORITHMS,
        issuer: config.jwtIssuer,
        audience: config.jwtAudience,
      },
      read: (claims) => {
        // A provider's token must say when it ends and whom it is for: a token without `exp` would
        // be good forever, one without `aud` may have been minted for another application.
        if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || !hasAudience(claims)) return null;
        const rawRoles = readClaim(claims, config.jwtRolesClaim);
        const roles = Array.isArray(rawRoles) ? rawRoles.filter((r): r is string => typeof r === 'string') : [];
        const username = typeof claims.preferred_username === 'string' ? claims.preferred_username : null;
        return { source: 'external', subject: claims.sub, username, roles, expiresAt: expiryOf(claims) };
      },
    };
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

  /**
   * The checks of the `jwt` strategy, then of `oidc`, for a credential that does not come through
   * passport (the Socket.IO handshake). Null for any token that does not verify.
   */
  async verify(token: string): Promise<VerifiedToken | null> {
    for (const verification of [this.accessTokens, this.identityTokens]) {
      const claims = await this.claimsVerifiedBy(verification, token);
      if (claims) return verification.read(claims);
    }
    return null;
  }

  /** What passport-jwt does with these options: find the key, then check signature, algorithm, expiry, issuer and audience. */
  private async claimsVerifiedBy(verification: JwtVerification, token: string): Promise<JwtClaims | null> {
    const { secretOrKeyProvider, algorithms, issuer, audience } = verification.options;
    try {
      const key = await new Promise<string | Buffer | undefined>((resolve, reject) =>
        secretOrKeyProvider(undefined, token, (err, secretOrKey) => (err ? reject(err as Error) : resolve(secretOrKey))),
      );
      if (!key) return null;
      return await this.jwt.verifyAsync<JwtClaims>(token, { secret: key, algorithms, issuer, audience });
    } catch {
      return null;
    }
  }
}

/** The identity provider's keys: from JWKS_URL (cached, rate limited), JWT_PUBLIC_KEY, or none configured. */
function identityProviderKeys(config: AppConfig): SecretOrKeyProvider {
  if (config.jwksUrl) {
    return passportJwtSecret({ jwksUri: config.jwksUrl, cache: true, cacheMaxAge: 600_000, rateLimit: true, timeout: 5_000 });
  }
  const publicKey = config.jwtPublicKey?.replace(/\\n/g, '\n');
  if (publicKey) return (_req, _token, done) => done(null, publicKey);
  return (_req, _token, done) => done(new Error('No identity provider is configured'));
}

function hasAudience(claims: JwtClaims): boolean {
  const { aud } = claims;
  return (typeof aud === 'string' && aud !== '') || (Array.isArray(aud) && aud.some((a) => typeof a === 'string' && a !== ''));
}

function expiryOf(claims: JwtClaims): number | null {
  return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
}

/** Reads a claim by a dotted path, e.g. `realm_access.roles`. */
function readClaim(claims: JwtClaims, path: string): unknown {
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
