import { JwtService } from '@nestjs/jwt';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expectError } from '../harness/factories';
import { EventClient } from '../harness/sockets';
import { createTestApp, type TestApp } from '../harness/test-app';

const ISSUER = 'https://idp.example';
const AUDIENCE = 'agentmanager';
const KID = 'idp-key-1';

function rsaKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

/** Signs as the identity provider would: RS256, its issuer and audience, roles under realm_access. */
function idpToken(privateKey: KeyObject, claims: Record<string, unknown> = {}, options: { issuer?: string; audience?: string } = {}): Promise<string> {
  return new JwtService({}).signAsync(
    { sub: 'idp-user-1', preferred_username: 'ada', realm_access: { roles: ['viewer'] }, ...claims },
    {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      algorithm: 'RS256',
      keyid: KID,
      issuer: options.issuer ?? ISSUER,
      audience: options.audience ?? AUDIENCE,
      ...('exp' in claims ? {} : { expiresIn: 60 }),
    },
  );
}

/** An HS256 token whose HMAC key is the provider's public key: a verifier that let the token choose its algorithm would accept it. */
function algorithmConfusion(publicPem: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT', kid: KID })}.${part({ sub: 'idp-user-1', iss: ISSUER, aud: AUDIENCE, realm_access: { roles: ['admin'] }, exp: Math.floor(Date.now() / 1000) + 60 })}`;
  return `${body}.${createHmac('sha256', publicPem).update(body).digest('base64url')}`;
}

const me = (app: TestApp, token: string) => app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);

describe('identity-provider tokens (e2e)', () => {
  describe('keys from JWKS_URL (passport-jwt with jwks-rsa)', () => {
    const { privateKey, publicKey } = rsaKeys();
    let jwks: Server;
    let jwksRequests = 0;
    let app: TestApp;
    const clients: EventClient[] = [];

    beforeAll(async () => {
      jwks = createServer((_req, res) => {
        jwksRequests++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }] }));
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
      app = await createTestApp({
        env: { JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_ROLES_CLAIM: 'realm_access.roles' },
      });
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.close();
    });
    afterAll(async () => {
      await app.close();
      await new Promise((resolve) => jwks.close(resolve));
    });

    it('accepts a token over REST and Socket.IO with the permissions of the roles it names', async () => {
      const token = await idpToken(privateKey);
      const res = await me(app, token);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: 'idp-user-1', username: 'ada', roles: ['viewer'], kind: 'user' });
      expect(res.body.permissions).toContain('events:read');
      expectError(await app.http.get('/api/v1/users').set('Authorization', `Bearer ${token}`), 403, 'forbidden');
      const socket = new EventClient(app.baseUrl, token);
      clients.push(socket);
      await socket.connected();
      // The provider's keys are fetched once and cached, not per request.
      await me(app, await idpToken(privateKey, { sub: 'idp-user-2' }));
      expect(jwksRequests).toBe(1);
    });

    it('refuses a token that is expired, for another audience or issuer, signed by another key, or HS256 keyed by the public key', async () => {
      const refused = [
        await idpToken(privateKey, { exp: Math.floor(Date.now() / 1000) - 5 }),
        await idpToken(privateKey, {}, { audience: 'someone-else' }),
        await idpToken(privateKey, {}, { issuer: 'https://other-idp.example' }),
        await idpToken(rsaKeys().privateKey),
        algorithmConfusion(publicKey.export({ type: 'spki', format: 'pem' }) as string),
      ];
      for (const token of refused) {
        const res = await me(app, token);
        expectError(res, 401, 'unauthenticated');
        expect(res.body.message).toBe('The token is invalid or expired');
        const socket = new EventClient(app.baseUrl, token);
        clients.push(socket);
        await expect(socket.connected()).rejects.toThrow(/unauthorized/);
      }
    });
  });

  describe('a key from JWT_PUBLIC_KEY', () => {
    const { privateKey, publicKey } = rsaKeys();
    let app: TestApp;

    beforeAll(async () => {
      app = await createTestApp({ env: { JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }) as string, JWT_ROLES_CLAIM: 'realm_access.roles' } });
    });
    afterAll(() => app.close());

    it('accepts a token signed by that key and refuses one signed by another', async () => {
      const res = await me(app, await idpToken(privateKey, { realm_access: { roles: ['operator', 'no-such-role'] } }));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: 'idp-user-1', roles: ['operator'] });
      expectError(await me(app, await idpToken(rsaKeys().privateKey)), 401, 'unauthenticated');
    });
  });
});
