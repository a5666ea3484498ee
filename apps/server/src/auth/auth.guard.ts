import { Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { Request } from 'express';
import { forbidden, unauthenticated } from '../common/errors';
import { AuditService } from '../audit/audit.service';
import { ANY_AUTHENTICATED, PERMISSION_KEY, PUBLIC_KEY } from './decorators';
import { grants, type Permission } from './permissions';
import type { Principal } from './principal';

/**
 * The global default-deny guard. A route passes only if it is @Public(), or the caller
 * authenticates and holds the permission the route names with @RequirePermission(). A route
 * that names neither is refused to everyone. Denials are audited.
 */
@Injectable()
export class AuthGuard extends PassportAuthGuard('bearer') {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    await super.canActivate(context);
    const request = context.switchToHttp().getRequest<Request & { user: Principal }>();
    const required = this.reflector.getAllAndOverride<Permission | typeof ANY_AUTHENTICATED | undefined>(PERMISSION_KEY, targets);
    if (required === ANY_AUTHENTICATED) return true;
    if (required && grants(request.user.permissions, required)) return true;
    await this.audit.recordAlone({
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
   * A credential that does not verify is a 401 (AuthenticationService throws DomainErrors). Any
   * other error is not the caller's fault: rethrown, so a database outage is a 503 and a bug a 500.
   */
  override handleRequest<TUser>(err: unknown, user: TUser): TUser {
    if (err instanceof Error) throw err;
    if (err) throw new Error('authentication failed unexpectedly');
    if (!user) throw unauthenticated();
    return user;
  }
}
