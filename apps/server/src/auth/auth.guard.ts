import { type ExecutionContext,Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { Request } from 'express';
import { ANY_AUTHENTICATED, PERMISSION_KEY, PUBLIC_KEY } from '../access/decorators';
import { grants, type Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { DenialAudits } from '../audit/denial-audits';
import { forbidden, unauthenticated } from '../common/errors';
import { AuthenticationService, bearerFrom } from './authentication.service';
import { authenticatedEarly, STRATEGIES } from './request-authentication';


/**
 * The global default-deny guard. A route passes only if it is @Public(), or the caller
 * authenticates and holds the permission the route names with @RequirePermission(). A route
 * that names neither is refused to everyone. Denials are audited (repeats aggregated, DenialAudits).
 */
@Injectable()
export class AuthGuard extends PassportAuthGuard(STRATEGIES) {
  constructor(
    private readonly reflector: Reflector,
    private readonly denials: DenialAudits,
    private readonly authentication: AuthenticationService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<Request & { user: Principal }>();
    await this.authenticate(context, request);
    const required = this.reflector.getAllAndOverride<Permission | typeof ANY_AUTHENTICATED | undefined>(PERMISSION_KEY, targets);
    if (required === ANY_AUTHENTICATED) return true;
    if (required && grants(request.user.permissions, required)) return true;
    await this.denials.record({
      actor: request.user.actor,
      action: 'authz.denied',
      resourceType: 'route',
      resourceId: `${request.method} ${(request.route as { path?: string } | undefined)?.path ?? request.path}`,
      outcome: 'denied',
      details: { required_permission: required ?? null },
    });
    throw forbidden(required ? `This needs the ${required} permission` : 'This route is not available');
  }

  /**
   * The rate limiter, which runs first, has usually authenticated the request already: its
   * outcome is reused. Otherwise a credential resolved in the last few seconds is taken from the
   * cache, without a signature check; others go through passport.
   */
  private async authenticate(context: ExecutionContext, request: Request & { user: Principal }): Promise<void> {
    const credential = bearerFrom(request.headers.authorization);
    if (!credential) throw unauthenticated('A bearer token is required');
    const early = authenticatedEarly(request);
    if (early) {
      request.user = await early;
      return;
    }
    const cached = this.authentication.cached(credential);
    if (cached) request.user = cached;
    else await super.canActivate(context);
  }

  /**
   * A refused API key or user is a 401 from AuthenticationService (a DomainError); a token no
   * strategy could verify is the same 401. Any other error is not the caller's fault: rethrown,
   * so a database outage is a 503 and a bug a 500.
   */
  override handleRequest<TUser>(err: unknown, user: TUser): TUser {
    if (err instanceof Error) throw err;
    if (err) throw new Error('authentication failed unexpectedly');
    if (!user) throw unauthenticated('The token is invalid or expired');
    return user;
  }
}
