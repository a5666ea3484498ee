import { createParamDecorator, type ExecutionContext,SetMetadata } from '@nestjs/common';
import type { Permission } from './permissions';
import type { Principal } from './principal';

export const PUBLIC_KEY = 'agentmanager:public';
export const PERMISSION_KEY = 'agentmanager:permission';

/** The only way past the default-deny guard without a credential. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

/** Stands for "any authenticated caller" in route metadata. */
export const ANY_AUTHENTICATED = 'authenticated';

/** Any authenticated caller may use the route (e.g. GET /auth/me). */
export const Authenticated = (): MethodDecorator & ClassDecorator => SetMetadata(PERMISSION_KEY, ANY_AUTHENTICATED);

/** The permission a route needs; the guard denies every route that states neither this nor @Public(). */
export const RequirePermission = (permission: Permission): MethodDecorator & ClassDecorator =>
  SetMetadata(PERMISSION_KEY, permission);

/** Injects the authenticated caller into a controller method. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<{ user: Principal }>().user;
});
