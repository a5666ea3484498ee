import { randomBytes } from 'node:crypto';
import { ADMIN_PASSWORD, type TestApp } from './test-app';

export interface Session {
  id: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  auth: { Authorization: string };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function login(app: TestApp, username: string, password: string): Promise<Session> {
  const res = await app.http.post('/api/v1/auth/login').send({ username, password });
  if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  const me = await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${res.body.access_token}`);
  return {
    id: me.body.id,
    username,
    password,
    accessToken: res.body.access_token,
    refreshToken: res.body.refresh_token,
    auth: { Authorization: `Bearer ${res.body.access_token}` },
  };
}

export function loginAdmin(app: TestApp): Promise<Session> {
  return login(app, 'admin', ADMIN_PASSWORD);
}

/** Creates a user with the given roles (through the admin API) and logs in as them. */
export async function createUser(app: TestApp, admin: Session, roles: string[], extra: Record<string, unknown> = {}): Promise<Session> {
  const username = uniqueName('user');
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const res = await app.http.post('/api/v1/users').set(admin.auth).send({ username, password, roles, ...extra });
  if (res.status !== 201) throw new Error(`creating a user failed: ${res.status} ${JSON.stringify(res.body)}`);
  return login(app, username, password);
}

/** Creates an API key with the given roles; returns its id and secret as an auth header. */
export async function createApiKey(
  app: TestApp,
  creator: Session,
  roles: string[],
): Promise<{ id: string; key: string; auth: { Authorization: string } }> {
  const res = await app.http.post('/api/v1/api-keys').set(creator.auth).send({ name: uniqueName('key'), roles });
  if (res.status !== 201) throw new Error(`creating an API key failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.key, auth: { Authorization: `Bearer ${res.body.key}` } };
}

/** Asserts the API.md error body. */
export function expectError(res: { status: number; body: Record<string, unknown>; headers: Record<string, string> }, status: number, code: string): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.body.status_code).toBe(status);
  expect(typeof res.body.message).toBe('string');
  expect(res.body.details).toEqual(expect.any(Object));
  expect(res.body.request_id).toBe(res.headers['x-request-id']);
}

export type AuthHeader = { Authorization: string };

/** Registers an agent (a unique name unless given) and returns its body; throws unless 201. */
export async function registerAgent(
  app: TestApp,
  auth: AuthHeader,
  body: { name?: string; type?: string; capabilities?: string[]; max_parallel_tasks?: number } = {},
): Promise<{ id: string; name: string; [k: string]: unknown }> {
  const res = await app.http
    .post('/api/v1/agents/register')
    .set(auth)
    .send({ name: uniqueName('agent'), type: 'worker', capabilities: [], ...body });
  if (res.status !== 201) throw new Error(`registering an agent failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; name: string };
}

/** Submits a task; throws unless 201. */
export async function createTask(
  app: TestApp,
  auth: AuthHeader,
  body: Record<string, unknown>,
): Promise<{ id: string; status: string; attempt: number; [k: string]: unknown }> {
  const res = await app.http.post('/api/v1/tasks').set(auth).send(body);
  if (res.status !== 201) throw new Error(`creating a task failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; status: string; attempt: number };
}

/** POST /tasks/claim; throws unless 200; returns the claimed tasks. */
export async function claimTasks(
  app: TestApp,
  auth: AuthHeader,
  agentId: string,
  extra: { max_tasks?: number; wait_seconds?: number } = {},
): Promise<{ id: string; attempt: number; [k: string]: unknown }[]> {
  const res = await app.http.post('/api/v1/tasks/claim').set(auth).send({ agent_id: agentId, ...extra });
  if (res.status !== 200) throw new Error(`claiming failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.tasks as { id: string; attempt: number }[];
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** POST /tasks/{id}/complete as `agentId` with the claimed attempt; throws unless 200. */
export async function completeTask(
  app: TestApp,
  auth: AuthHeader,
  task: { id: string; attempt: number },
  agentId: string,
  result: unknown = {},
): Promise<{ id: string; status: string; [k: string]: unknown }> {
  const res = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(auth).send({ agent_id: agentId, attempt: task.attempt, result });
  if (res.status !== 200) throw new Error(`completing a task failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; status: string };
}

/** POST /tasks/{id}/fail as `agentId` with the claimed attempt; throws unless 200. */
export async function failTask(
  app: TestApp,
  auth: AuthHeader,
  task: { id: string; attempt: number },
  agentId: string,
  retryable = false,
): Promise<{ id: string; status: string; [k: string]: unknown }> {
  const res = await app.http
    .post(`/api/v1/tasks/${task.id}/fail`)
    .set(auth)
    .send({ agent_id: agentId, attempt: task.attempt, error: { code: 'boom', message: 'it broke' }, retryable });
  if (res.status !== 200) throw new Error(`failing a task failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; status: string };
}
