import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { expectError, loginAdmin, type Session } from '../harness/factories';
import { EventClient } from '../harness/sockets';
import { createTestApp, type TestApp } from '../harness/test-app';

/**
 * Every way to forge or bend a bearer JWT, against the three doors that take one: REST, the
 * Socket.IO handshake and MCP. The server's signing secret is known to the test (JWT_SECRET), so
 * each forgery differs from a valid token in exactly one thing; an identity provider's RSA public
 * key is configured too (JWT_PUBLIC_KEY), for the algorithm-confusion vectors.
 */
const SECRET = randomBytes(32).toString('hex');
const { privateKey: idpPrivate, publicKey: idpPublic } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const IDP_PEM = idpPublic.export({ type: 'spki', format: 'pem' }) as string;

const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const hs256 = (key: string | Buffer, header: object, claims: object) => {
  const body = `${part(header)}.${part(claims)}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
};
const rs256 = (header: object, claims: object) => {
  const body = `${part(header)}.${part(claims)}`;
  return `${body}.${sign('sha256', Buffer.from(body), idpPrivate).toString('base64url')}`;
};

describe('forged and bent JWTs (security)', () => {
  let app: TestApp;
  let admin: Session;
  let claims: Record<string, unknown>;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    app = await createTestApp({ env: { JWT_SECRET: SECRET, JWT_PUBLIC_KEY: IDP_PEM } });
    admin = await loginAdmin(app);
    claims = { sub: admin.id, username: admin.username, typ: 'access', iss: 'agentmanager', iat: now(), exp: now() + 300 };
  });
  afterAll(() => app.close());

  const valid = () => hs256(SECRET, { alg: 'HS256', typ: 'JWT' }, claims);

  const vectors: [string, () => string][] = [
    ['alg none, no signature', () => `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`],
    ['alg none, the valid signature kept', () => `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.${valid().split('.')[2]}`],
    ['HS256 under another key', () => hs256(randomBytes(32).toString('hex'), { alg: 'HS256', typ: 'JWT' }, claims)],
    ['HS256 keyed by the identity provider public key (HS/RS confusion)', () => hs256(IDP_PEM, { alg: 'HS256', typ: 'JWT' }, { ...claims, iss: undefined })],
    ['RS256 by the identity provider, claiming our issuer and a local user', () => rs256({ alg: 'RS256', typ: 'JWT' }, claims)],
    ['expired', () => hs256(SECRET, { alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now() - 600, exp: now() - 60 })],
    ['a refresh token type', () => hs256(SECRET, { alg: 'HS256', typ: 'JWT' }, { ...claims, typ: 'refresh' })],
    ['no type', () => hs256(SECRET, { alg: 'HS256', typ: 'JWT' }, { ...claims, typ: undefined })],
    ['another issuer', () => hs256(SECRET, { alg: 'HS256', typ: 'JWT' }, { ...claims, iss: 'https://evil.example' })],
    ['a payload changed under the valid signature', () => { const [h, , s] = valid().split('.'); return `${h}.${part({ ...claims, sub: '00000000-0000-0000-0000-000000000001' })}.${s}`; }],
    ['truncated signature', () => valid().slice(0, -6)],
    ['only two parts', () => valid().split('.').slice(0, 2).join('.')],
    ['oversized (11 KB; past 16 KB of headers Node answers 431 itself)', () => hs256(randomBytes(32), { alg: 'HS256', typ: 'JWT' }, { ...claims, pad: 'x'.repeat(8_000) })],
    ['not a JWT at all', () => 'not.a.jwt'],
  ];

  it('accepts the unforged token on every door (the control)', async () => {
    expect((await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${valid()}`)).status).toBe(200);
    const socket = new EventClient(app.baseUrl, valid());
    try {
      await socket.connected();
    } finally {
      socket.close();
    }
  });

  it.each(vectors)('refuses %s on REST with 401', async (_, forge) => {
    expectError(await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${forge()}`), 401, 'unauthenticated');
  });

  it.each(vectors)('refuses %s on MCP with 401', async (_, forge) => {
    const res = await app.http
      .post('/mcp')
      .set('Authorization', `Bearer ${forge()}`)
      .set('Accept', 'application/json, text/event-stream')
      .send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'forger', version: '1' } } });
    expectError(res, 401, 'unauthenticated');
  });

  it.each(vectors)('refuses %s at the Socket.IO handshake', async (_, forge) => {
    const socket = new EventClient(app.baseUrl, forge());
    try {
      await expect(socket.connected()).rejects.toThrow(/unauthorized/);
    } finally {
      socket.close();
    }
  });
});
