import { Injectable, type Type } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport-jwt';
import type { Principal } from '../access/principal';
import { unauthenticated } from '../common/errors';
import { AuthenticationService, bearerFrom } from './authentication.service';
import { type JwtClaims, type JwtVerification,TokenService } from './token.service';

/**
 * A passport-jwt strategy named `name` for one kind of token: it reads the `Authorization: Bearer`
 * header only (never a query string or body field), verifies as `verification` says, and hands
 * the claims to AuthenticationService for the principal.
 */
function bearerJwtStrategy(name: string, verification: (tokens: TokenService) => JwtVerification): Type<{ validate(req: Request, claims: JwtClaims): Promise<Principal> }> {
  @Injectable()
  class BearerJwtStrategy extends PassportStrategy(Strategy, name) {
    constructor(
      private readonly tokens: TokenService,
      private readonly authentication: AuthenticationService,
    ) {
      super({ ...verification(tokens).options, jwtFromRequest: (req: Request) => bearerFrom(req.headers.authorization) ?? null, passReqToCallback: true });
    }

    /** Signature, algorithm, expiry and issuer are verified; the claims must still fit, and the subject be allowed in. */
    async validate(req: Request, claims: JwtClaims): Promise<Principal> {
      const verified = verification(this.tokens).read(claims);
      if (!verified) throw unauthenticated('The token is invalid or expired');
      return this.authentication.tokenPrincipal(bearerFrom(req.headers.authorization) as string, verified);
    }
  }
  return BearerJwtStrategy;
}

/** Passport strategy `jwt`: the access tokens this server signs (HS256). */
export class JwtStrategy extends bearerJwtStrategy('jwt', (tokens) => tokens.accessTokens) {}

/** Passport strategy `oidc`: an identity provider's tokens (JWKS_URL through jwks-rsa, or JWT_PUBLIC_KEY); refuses every token when neither is set. */
export class IdentityProviderStrategy extends bearerJwtStrategy('oidc', (tokens) => tokens.identityTokens) {}
