import { AuthRepository } from '../../apps/server/src/auth/auth.repository';
import { AuthenticationService } from '../../apps/server/src/auth/authentication.service';
import { TokenService } from '../../apps/server/src/auth/token.service';
import { PgListener } from '../../apps/server/src/database/pg-listener.service';
import { createUser, loginAdmin, type Session } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

/**
 * The principal cache on the real server and database: the service's own TokenService and
 * AuthRepository are watched (spies that call through), never replaced.
 */
describe('principal cache (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  let authentication: AuthenticationService;
  let verify: jest.SpyInstance;
  let grants: jest.SpyInstance;
  /** Empties the cache as a committed change to grants would (createUser has used the token already), and starts counting. */
  const invalidate = () => {
    app.server.app.get(PgListener).signal(['am_auth']);
    verify.mockClear();
    grants.mockClear();
  };

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
    authentication = app.server.app.get(AuthenticationService);
  });
  beforeEach(() => {
    verify = jest.spyOn(app.server.app.get(TokenService), 'verify');
    grants = jest.spyOn(app.server.app.get(AuthRepository), 'findUserGrants');
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(() => app.close());

  it('serves a credential resolved a moment ago from the cache: no second signature check, no second query', async () => {
    const user = await createUser(app, admin, ['viewer']);
    invalidate();
    const first = await authentication.authenticate(user.accessToken);
    expect(await authentication.authenticate(user.accessToken)).toBe(first);
    expect(authentication.cached(user.accessToken)).toBe(first);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(grants).toHaveBeenCalledTimes(1);
  });

  it('drops cached principals when a change to users commits, so a disabled user stops at once', async () => {
    const user = await createUser(app, admin, ['viewer']);
    expect((await app.http.get('/api/v1/auth/me').set(user.auth)).status).toBe(200);
    expect(authentication.cached(user.accessToken)).toBeDefined();
    expect((await app.http.patch(`/api/v1/users/${user.id}`).set(admin.auth).send({ disabled: true })).status).toBe(200);
    expect(authentication.cached(user.accessToken)).toBeUndefined();
    expect((await app.http.get('/api/v1/auth/me').set(user.auth)).status).toBe(401);
  });

  it('does not cache a lookup that raced an invalidation', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const listener = app.server.app.get(PgListener);
    const read = AuthRepository.prototype.findUserGrants;
    grants.mockImplementationOnce(async function (this: AuthRepository, ...args: Parameters<AuthRepository['findUserGrants']>) {
      const found = await read.apply(this, args);
      listener.signal(['am_auth']); // a change to grants committed while this lookup ran
      return found;
    });
    invalidate();
    await authentication.authenticate(user.accessToken);
    expect(authentication.cached(user.accessToken)).toBeUndefined();
  });

  it('never keeps a principal past its credential expiry', async () => {
    const user = await createUser(app, admin, ['viewer']);
    await authentication.authenticate(user.accessToken);
    const exp = (JSON.parse(Buffer.from(user.accessToken.split('.')[1], 'base64url').toString()) as { exp: number }).exp;
    jest.spyOn(Date, 'now').mockReturnValue(exp * 1000 + 1);
    expect(authentication.cached(user.accessToken)).toBeUndefined();
  });

  it('refuses an unknown token and a missing one with their 401 messages, caching nothing', async () => {
    await expect(authentication.authenticate('not.a.token')).rejects.toMatchObject({ code: 'unauthenticated', message: 'The token is invalid or expired' });
    await expect(authentication.authenticate(undefined)).rejects.toMatchObject({ code: 'unauthenticated', message: 'A bearer token is required' });
    expect(authentication.cached('not.a.token')).toBeUndefined();
  });
});
