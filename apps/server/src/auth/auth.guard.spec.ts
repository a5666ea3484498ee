import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ANY_AUTHENTICATED, PUBLIC_KEY } from '../access/decorators';
import type { Principal } from '../access/principal';
import type { DenialAudits } from '../audit/denial-audits';
import { AuthGuard } from './auth.guard';
import type { AuthenticationService } from './authentication.service';
import { authenticateRequest } from './request-authentication';

const principal: Principal = {
  kind: 'api_key',
  id: 'k1',
  userId: 'u1',
  username: 'ada',
  roles: ['agent'],
  permissions: new Set(['agents:act']),
  actor: { type: 'api_key', id: 'k1' },
};

/** The guard on an authenticated-only route, with no passport strategy registered in this process. */
function guardOver(cached: Principal | undefined) {
  const reflector = { getAllAndOverride: (key: string) => (key === PUBLIC_KEY ? false : ANY_AUTHENTICATED) };
  const authentication = { cached: jest.fn(() => cached) };
  const guard = new AuthGuard(reflector as unknown as Reflector, {} as DenialAudits, authentication as unknown as AuthenticationService);
  return { guard, authentication };
}

function http(authorization?: string): { context: ExecutionContext; request: { headers: Record<string, string>; user?: Principal } } {
  const request = { headers: authorization ? { authorization } : {} } as { headers: Record<string, string>; user?: Principal };
  const context = {
    getType: () => 'http',
    getHandler: () => http,
    getClass: () => AuthGuard,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }),
  } as unknown as ExecutionContext;
  return { context, request };
}

describe('AuthGuard', () => {
  it('lets a cached credential through without passport, so no signature is verified again', async () => {
    const { guard, authentication } = guardOver(principal);
    const { context, request } = http('Bearer amk_abcdefghijk_0123456789012345678901234567890123456789012');
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(request.user).toBe(principal);
    expect(authentication.cached).toHaveBeenCalledWith('amk_abcdefghijk_0123456789012345678901234567890123456789012');
  });

  it('hands any other credential to passport, which tries api-key first', async () => {
    const { guard } = guardOver(undefined);
    await expect(guard.canActivate(http('Bearer some.jwt.token').context)).rejects.toThrow('Unknown authentication strategy "api-key"');
  });

  it("reuses the rate limiter's authentication of the same request, success or refusal, without asking again", async () => {
    const { guard, authentication } = guardOver(undefined);
    const ok = http('Bearer some.jwt.token');
    const known = { cached: jest.fn(() => principal) };
    await authenticateRequest(ok.request as never, known as unknown as AuthenticationService);
    await expect(guard.canActivate(ok.context)).resolves.toBe(true);
    expect(ok.request.user).toBe(principal);
    // Not cached: the limiter went to passport (no strategy is registered in this process), and the guard rethrows that outcome.
    const refused = http('Bearer bad.jwt.token');
    const unknown = { cached: jest.fn(() => undefined) };
    void authenticateRequest(refused.request as never, unknown as unknown as AuthenticationService);
    await expect(guard.canActivate(refused.context)).rejects.toThrow('Unknown authentication strategy "api-key"');
    expect(known.cached).toHaveBeenCalledTimes(1);
    expect(unknown.cached).toHaveBeenCalledTimes(1);
    expect(authentication.cached).not.toHaveBeenCalled();
  });

  it('refuses a request without a bearer credential before asking anyone', async () => {
    const { guard, authentication } = guardOver(principal);
    await expect(guard.canActivate(http('Basic YWRtaW46YWRtaW4=').context)).rejects.toMatchObject({ code: 'unauthenticated', message: 'A bearer token is required' });
    expect(authentication.cached).not.toHaveBeenCalled();
  });
});
