import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport-custom';
import { AuthenticationService, bearerFrom } from './authentication.service';
import type { Principal } from './principal';

/** Passport strategy `bearer`: the Authorization header only, resolved by AuthenticationService. */
@Injectable()
export class BearerStrategy extends PassportStrategy(Strategy, 'bearer') {
  constructor(private readonly authentication: AuthenticationService) {
    super();
  }

  validate(req: Request): Promise<Principal> {
    return this.authentication.authenticate(bearerFrom(req.headers.authorization));
  }
}
