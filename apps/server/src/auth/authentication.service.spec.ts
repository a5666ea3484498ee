import type { PgListener } from '../database/pg-listener.service';
import type { AuthRepository, UserGrants } from './auth.repository';
import { AuthenticationService } from './authentication.service';
import type { TokenService, VerifiedToken } from './token.service';

/** The service over stand-ins: `verify` counts signature checks, `findUserGrants` database reads. */
function setup(expiresAt: number | null = null) {
  let signalAuth = (): void => undefined;
  const listener = {
    on: (_channel: string, listener: () => void) => {
      signalAuth = listener;
      return () => undefined;
    },
  };
  const grants: UserGrants = { id: 'u1', username: 'ada', email: null, disabled: false, roles: ['viewer'], permissions: ['tasks:read'] };
  const repository = { findUserGrants: jest.fn(async (): Promise<UserGrants | undefined> => grants) };
  const tokens = {
    verify: jest.fn(async (token: string): Promise<VerifiedToken | null> => (token === 'good' ? { source: 'local', userId: 'u1', expiresAt } : null)),
  };
  const service = new AuthenticationService(repository as unknown as AuthRepository, tokens as unknown as TokenService, listener as unknown as PgListener);
  service.onModuleInit();
  return { service, repository, tokens, signalAuth: () => signalAuth() };
}

describe('AuthenticationService', () => {
  afterEach(() => jest.restoreAllMocks());

  it('serves a credential resolved a moment ago from the cache: no second signature check, no second query', async () => {
    const { service, repository, tokens } = setup();
    const first = await service.authenticate('good');
    expect(await service.authenticate('good')).toBe(first);
    expect(service.cached('good')).toBe(first);
    expect(tokens.verify).toHaveBeenCalledTimes(1);
    expect(repository.findUserGrants).toHaveBeenCalledTimes(1);
  });

  it('drops every cached principal on am_auth, so a disabled user stops at once', async () => {
    const { service, repository, signalAuth } = setup();
    await service.authenticate('good');
    repository.findUserGrants.mockResolvedValueOnce({ id: 'u1', username: 'ada', email: null, disabled: true, roles: [], permissions: [] });
    signalAuth();
    expect(service.cached('good')).toBeUndefined();
    await expect(service.authenticate('good')).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('does not cache a lookup that raced am_auth', async () => {
    const { service, repository, signalAuth } = setup();
    repository.findUserGrants.mockImplementationOnce(async () => {
      signalAuth();
      return { id: 'u1', username: 'ada', email: null, disabled: false, roles: ['viewer'], permissions: ['tasks:read'] };
    });
    await service.authenticate('good');
    expect(service.cached('good')).toBeUndefined();
  });

  it('never keeps a principal past its credential expiry', async () => {
    const now = Date.now();
    const { service } = setup(now + 1000);
    await service.authenticate('good');
    jest.spyOn(Date, 'now').mockReturnValue(now + 1001);
    expect(service.cached('good')).toBeUndefined();
  });

  it('refuses an unknown token and a missing one with their 401 messages, caching nothing', async () => {
    const { service } = setup();
    await expect(service.authenticate('bad')).rejects.toMatchObject({ code: 'unauthenticated', message: 'The token is invalid or expired' });
    await expect(service.authenticate(undefined)).rejects.toMatchObject({ code: 'unauthenticated', message: 'A bearer token is required' });
    expect(service.cached('bad')).toBeUndefined();
  });
});
