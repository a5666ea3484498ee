import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import passport from 'passport';
import { parseApiKey } from '../access/credentials';
import type { Principal } from '../access/principal';
import { AuthenticationService, bearerFrom } from './authentication.service';

type VerifyApiKey = (key: string, done: (err: unknown, principal?: Principal | null) => void) => void;

/** `Authorization: Bearer amk_…` only; any other credential is left to the next strategy. */
class BearerApiKeyStrategy extends passport.Strategy {
  constructor(private readonly verify: VerifyApiKey) {
    super();
  }

  override authenticate(req: Request): void {
    const key = bearerFrom(req.headers.authorization);
    if (!key || !parseApiKey(key)) return this.fail(401);
    this.verify(key, (err, principal) => (err ? this.error(err) : principal ? this.success(principal) : this.fail(401)));
  }
}

/** Passport strategy `api-key`: agents' and services' keys, resolved by AuthenticationService. */
@Injectable()
export class ApiKeyStrategy extends PassportStrategy(BearerApiKeyStrategy, 'api-key') {
  constructor(private readonly authentication: AuthenticationService) {
    super();
  }

  validate(key: string): Promise<Principal> {
    return this.authentication.apiKeyPrincipal(key);
  }
}
