import { execFile } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import type { Task } from '@agentmanager/contracts';
import { type AuthHeader,claimTasks, completeTask, createApiKey, eventually, login, loginAdmin, registerAgent, uniqueName } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';
import { artifactPath, buildCli } from '../harness/worker-process';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The built admin CLI as a real process against a real server: log in, create a user, create and
 * revoke an API key, submit tasks from a JSON file (and wait for them), list tasks, and the exit
 * codes and messages of mistakes.
 */
describe('admin CLI (e2e)', () => {
  let app: TestApp;
  let entry: string;
  let credentials: string;

  /** Runs the CLI asynchronously: the server under test lives in this same process. */
  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [entry, ...args],
        { env: { PATH: process.env.PATH ?? '', AGENTMANAGER_URL: app.baseUrl, AGENTMANAGER_CREDENTIALS: credentials, ...env }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const json = <T>(run: CliRun): T => {
    expect(run).toMatchObject({ code: 0 });
    return JSON.parse(run.stdout) as T;
  };
  const jsonFile = (name: string, body: unknown): string => {
    const path = artifactPath(`${name}-${process.pid}.json`);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };

  beforeAll(async () => {
    entry = await buildCli();
    credentials = artifactPath(`cli-credentials-${process.pid}.json`);
    rmSync(credentials, { force: true });
    app = await createTestApp();
  }, 120_000);

  afterAll(async () => {
    rmSync(credentials, { force: true });
    await app.close();
  });

  it('logs in as the first admin and keeps the tokens in a private file', async () => {
    const run = await cli(['login', '--username', 'admin', '--password', ADMIN_PASSWORD]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`logged in to ${app.baseUrl} as admin`);
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    const me = json<{ username: string; roles: string[] }>(await cli(['whoami', '--json']));
    expect(me).toMatchObject({ username: 'admin', roles: ['admin'] });
  });

  it('creates a user who can then log in with the given roles', async () => {
    const username = uniqueName('cli-user');
    const created = json<{ id: string; username: string; roles: string[] }>(
      await cli(['users', 'create', '--username', username, '--password', 'a-good-password-1', '--roles', 'operator', '--json']),
    );
    expect(created).toMatchObject({ username, roles: ['operator'] });
    const session = await login(app, username, 'a-good-password-1');
    const me = await app.http.get('/api/v1/auth/me').set(session.auth);
    expect(me.body).toMatchObject({ id: created.id, roles: ['operator'] });
  });

  it('creates an API key that works, lists it, revokes it, and the key stops working', async () => {
    const name = uniqueName('cli-key');
    const created = await cli(['api-keys', 'create', '--name', name, '--roles', 'agent']);
    expect(created.code).toBe(0);
    const secret = /secret \(shown once\): (\S+)/.exec(created.stdout)?.[1];
    const id = new RegExp(`created API key ${name} \\(([0-9a-f-]{36})\\)`).exec(created.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(id).toBeDefined();
    const auth: AuthHeader = { Authorization: `Bearer ${secret}` };
    expect((await app.http.get('/api/v1/agents').set(auth)).status).toBe(200);

    const listed = await cli(['api-keys', 'list']);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+PREFIX\s+ROLES\s+STATE/);
    expect(listed.stdout.split('\n').find((l) => l.startsWith(id!))).toMatch(new RegExp(`${name}\\s+\\S+\\s+agent\\s+active`));

    const revoked = await cli(['api-keys', 'revoke', id!]);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked ${id}\n` });
    expect((await app.http.get('/api/v1/agents').set(auth)).status).toBe(401);
    const after = json<{ id: string; revoked_at: string | null }[]>(await cli(['api-keys', 'list', '--json']));
    expect(after.find((k) => k.id === id)?.revoked_at).toEqual(expect.any(String));
    expect((await cli(['api-keys', 'list'])).stdout.split('\n').find((l) => l.startsWith(id!))).toMatch(/\brevoked\b/);

    // The revoked key as the CLI's credential: a clear refusal, exit 1.
    const refused = await cli(['tasks', 'list'], { AGENTMANAGER_TOKEN: secret! });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*\(401 unauthenticated/);
  });

  it('submits tasks from a JSON file and lists them in a table', async () => {
    const type = uniqueName('cli-type');
    const file = jsonFile('cli-tasks', [
      { type, payload: { n: 1 }, priority: 'high' },
      { type, payload: { n: 2 }, priority: 'low' },
    ]);
    const submitted = json<Task[]>(await cli(['tasks', 'submit', file, '--json']));
    expect(submitted.map((t) => [t.type, t.status, t.priority, t.payload])).toEqual([
      [type, 'ready', 'high', { n: 1 }],
      [type, 'ready', 'low', { n: 2 }],
    ]);
    const stored = await Promise.all(submitted.map((t) => app.sql<{ type: string }>('SELECT type FROM tasks WHERE id = $1', [t.id])));
    expect(stored.map((rows) => rows[0]?.type)).toEqual([type, type]);

    const table = await cli(['tasks', 'list', '--type', type]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATUS\s+PRIO\s+PROGRESS\s+ATTEMPT\s+AGENT\s+UPDATED$/);
    expect(lines).toHaveLength(3);
    for (const t of submitted) expect(lines.find((l) => l.startsWith(t.id))).toMatch(new RegExp(`${type}\\s+ready\\s+${t.priority}\\s+0%\\s+0/\\d+`));
  });

  it('prints what the server holds without terminal control sequences (a hostile task cannot drive the terminal)', async () => {
    const hostile = '\u001b]52;c;cHduZWQ=\u0007 \u009b2J\u009b31m red \u202egnp.exe\u2066';
    const file = jsonFile('cli-hostile', [{ type: uniqueName('cli-esc'), payload: { note: hostile }, metadata: { note: hostile } }]);
    const [task] = json<Task[]>(await cli(['tasks', 'submit', file, '--json']));
    for (const run of [await cli(['tasks', 'get', task.id]), await cli(['tasks', 'get', task.id, '--json'])]) {
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(task.id);
      // eslint-disable-next-line no-control-regex -- looking for control characters is the point
      expect(run.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    }
    // --json keeps the value: the characters become \u escapes, not gaps.
    const asJson = JSON.parse((await cli(['tasks', 'get', task.id, '--json'])).stdout) as Task;
    expect(asJson.payload).toEqual({ note: hostile });
  });

  it('tasks submit --wait shows progress until the task finishes, and exits 0 when it completed', async () => {
    const type = uniqueName('cli-wait');
    const file = jsonFile('cli-wait', { type, payload: {} });
    const waiting = cli(['tasks', 'submit', file, '--wait']);
    const { auth } = await createApiKey(app, await loginAdmin(app), ['agent']);
    const agent = await registerAgent(app, auth, { capabilities: [type] });
    const [task] = await eventually(async () => {
      const claimed = await claimTasks(app, auth, agent.id);
      return claimed.length ? claimed : undefined;
    }, 20_000, 200);
    await completeTask(app, auth, task, agent.id, { ok: true });
    const run = await waiting;
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('1/1 finished, 100% overall');
    expect(run.stdout).toMatch(new RegExp(`${task.id}\\s+${type}\\s+completed\\s+medium\\s+100%\\s+1/`));
  });

  it('refuses mistakes with a usage message and exit 2; an unreachable server with exit 1', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stderr).toContain('Usage: npm run cli');
    const missing = await cli(['tasks', 'submit']);
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toContain('missing a task JSON file');
    const badFile = await cli(['tasks', 'submit', artifactPath('no-such-file.json')]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toContain('cannot read');
    const down = await cli(['tasks', 'list'], { AGENTMANAGER_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('Is the server running?');
  });
});
