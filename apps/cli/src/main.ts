import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { AgentManagerClient, AgentManagerError, type ApiKey, isConnectionError, type Lock } from '@agentmanager/client';
import type { Agent, AgentManagerEvent, EventChannel, Task } from '@agentmanager/contracts';
import { credentialsPath, readCredentials, removeCredentials, writeCredentials } from './credentials';
import { ago, details, printable, safeJson, table } from './output';

const USAGE = `Usage: npm run cli -- <command> [options]

  login [--username u] [--password p]     log in; stores tokens in ${credentialsPath()} (0600)
  logout | whoami
  users create --username u --password p [--email e] [--roles a,b]
  api-keys create --name n --roles agent [--expires-at ISO] | list | revoke <id>
  agents list [--capability c] [--status s] [--type t]
  tasks list [--status s] [--type t] [--agent-id id] | get <id> | submit <file.json> [--wait]
  tasks cancel <id> | retry <id>
  workflows submit <file.json> | get <id>
  locks list [--path p] [--agent-id id]
  events tail [--channel tasks|agents|pipelines|workflows|locks|all] [--id id] [--after seq]
  admin create                            how to create the first admin

Global: --url <server> (AGENTMANAGER_URL), --token <jwt|api key> (AGENTMANAGER_TOKEN), --json, --limit n`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  username: { type: 'string' },
  password: { type: 'string' },
  email: { type: 'string' },
  roles: { type: 'string' },
  name: { type: 'string' },
  'expires-at': { type: 'string' },
  capability: { type: 'string' },
  status: { type: 'string' },
  type: { type: 'string' },
  'agent-id': { type: 'string' },
  path: { type: 'string' },
  channel: { type: 'string' },
  id: { type: 'string' },
  after: { type: 'string' },
  limit: { type: 'string' },
  wait: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

class UsageError extends Error {}

const print = (text: string) => process.stdout.write(`${printable(text)}\n`);
const printJson = (value: unknown) => print(safeJson(value, 2));
const roles = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const need = (value: string | undefined, what: string): string => {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
};

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  const muted = new Writable({ write: (_c, _e, done) => done() });
  const rl = createInterface({ input: process.stdin, output: hidden ? muted : process.stdout, terminal: hidden && process.stdin.isTTY });
  process.stdout.write(question);
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  if (hidden) process.stdout.write('\n');
  return answer.trim();
}

function makeClient(values: Values): AgentManagerClient {
  const stored = readCredentials();
  const url = values.url ?? process.env.AGENTMANAGER_URL ?? stored?.server_url ?? 'http://localhost:3000';
  const explicit = values.token ?? process.env.AGENTMANAGER_TOKEN;
  if (explicit) return new AgentManagerClient(url, explicit);
  const sameServer = stored && stored.server_url === url;
  return new AgentManagerClient(url, sameServer ? stored.access_token : undefined, {
    refreshToken: sameServer ? stored.refresh_token : undefined,
    // Refresh tokens are single-use: keep the new pair.
    onTokens: (pair) =>
      writeCredentials({ server_url: url, username: stored?.username, access_token: pair.access_token, refresh_token: pair.refresh_token, saved_at: new Date().toISOString() }),
  });
}

const TASK_COLUMNS = [
  { header: 'id', value: (t: Task) => t.id, max: 36 },
  { header: 'type', value: (t: Task) => t.type, max: 20 },
  { header: 'status', value: (t: Task) => t.status },
  { header: 'prio', value: (t: Task) => t.priority },
  { header: 'progress', value: (t: Task) => `${Math.round(t.progress * 100)}%` },
  { header: 'attempt', value: (t: Task) => `${t.attempt}/${t.max_attempts}` },
  { header: 'agent', value: (t: Task) => t.assigned_agent, max: 36 },
  { header: 'updated', value: (t: Task) => ago(t.updated_at) },
];

function describeEvent(e: AgentManagerEvent): string {
  const time = e.timestamp?.slice(11, 19) ?? '';
  switch (e.type) {
    case 'task_update':
      return `${time} #${e.seq} task ${e.task_id} ${e.status} ${Math.round(e.progress * 100)}% attempt ${e.attempt}${e.assigned_agent ? ` agent ${e.assigned_agent}` : ''}`;
    case 'agent_update':
      return `${time} #${e.seq} agent ${e.agent_id} ${e.status} load ${e.current_load}`;
    case 'pipeline_progress':
      return `${time} #${e.seq} run ${e.run_id} ${e.status} ${Math.round(e.progress * 100)}% stage ${e.current_stage ?? '-'}`;
    case 'workflow_update':
      return `${time} #${e.seq} workflow ${e.workflow_id} ${e.status} ${e.completed_tasks}/${e.total_tasks}`;
    case 'lock_update':
      return `${time} #${e.seq} lock ${e.path} (${e.access}) ${e.state} by ${e.holder?.type}:${e.holder?.id}`;
    case 'error':
      return `${time} #${e.seq} error ${e.error}: ${e.details?.message ?? ''}`;
  }
}

/** Revoked and expired keys stay listed (for the audit trail); say which ones still work. */
function keyState(key: ApiKey): string {
  if (key.revoked_at) return 'revoked';
  if (key.expires_at && Date.parse(key.expires_at) <= Date.now()) return 'expired';
  return 'active';
}

const TERMINAL = ['completed', 'failed', 'cancelled'];

/** Polls until every task is finished; progress goes to stderr (one line rewritten on a terminal, a line per change otherwise). */
async function waitForTasks(client: AgentManagerClient, ids: string[], json: boolean): Promise<Task[]> {
  let shown = '';
  const tty = process.stderr.isTTY === true;
  for (;;) {
    const tasks = await Promise.all(ids.map((id) => client.getTask(id)));
    const done = tasks.filter((t) => TERMINAL.includes(t.status)).length;
    const pct = Math.round((tasks.reduce((s, t) => s + (TERMINAL.includes(t.status) ? 1 : t.progress), 0) / tasks.length) * 100);
    const line = `${done}/${tasks.length} finished, ${pct}% overall`;
    if (!json && line !== shown) process.stderr.write(tty ? `\r${line}   ` : `${line}\n`);
    shown = line;
    if (tasks.every((t) => TERMINAL.includes(t.status))) {
      if (!json && tty) process.stderr.write('\n');
      return tasks;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const [group, action, arg] = positionals;
  if (values.help || !group) {
    print(USAGE);
    return group || values.help ? 0 : 2;
  }
  const json = values.json === true;
  const limit = values.limit ? Number(values.limit) : undefined;
  const client = makeClient(values);
  const cmd = `${group} ${action ?? ''}`.trim();

  switch (cmd) {
    case 'login': {
      const username = values.username ?? process.env.AGENTMANAGER_USERNAME ?? (await prompt('username: ', false));
      const password = values.password ?? process.env.AGENTMANAGER_PASSWORD ?? (await prompt('password: ', true));
      const pair = await client.login(username, password);
      writeCredentials({ server_url: client.baseUrl, username, access_token: pair.access_token, refresh_token: pair.refresh_token, saved_at: new Date().toISOString() });
      if (json) printJson({ server_url: client.baseUrl, username, credentials: credentialsPath() });
      else print(`logged in to ${client.baseUrl} as ${username}; tokens stored in ${credentialsPath()}`);
      return 0;
    }
    case 'logout': {
      await client.logout().catch(() => undefined);
      removeCredentials();
      print('logged out');
      return 0;
    }
    case 'whoami': {
      const me = await client.me();
      if (json) printJson(me);
      else print(details(me as unknown as Record<string, unknown>, ['id', 'username', 'email', 'roles', 'permissions']));
      return 0;
    }
    case 'admin create': {
      print(
        [
          'The first admin is created by the server itself, when the database has no users:',
          '  ADMIN_USERNAME=admin ADMIN_PASSWORD=<a strong password> npm start',
          '(without ADMIN_PASSWORD a random one is printed once in the server log).',
          'More admins: npm run cli -- users create --username <u> --password <p> --roles admin',
        ].join('\n'),
      );
      return 0;
    }
    case 'users create': {
      const user = await client.createUser({
        username: need(values.username, '--username'),
        password: need(values.password, '--password'),
        ...(values.email ? { email: values.email } : {}),
        roles: roles(values.roles) ?? ['viewer'],
      });
      if (json) printJson(user);
      else print(`created user ${user.username} (${user.id}) with roles ${user.roles.join(', ')}`);
      return 0;
    }
    case 'api-keys create': {
      const key = await client.createApiKey({
        name: need(values.name, '--name'),
        roles: roles(values.roles) ?? ['agent'],
        ...(values['expires-at'] ? { expires_at: values['expires-at'] } : {}),
      });
      if (json) printJson(key);
      else print([`created API key ${key.name} (${key.id}), roles ${key.roles.join(', ')}`, `secret (shown once): ${key.key}`].join('\n'));
      return 0;
    }
    case 'api-keys list': {
      const { api_keys } = await client.listApiKeys({ limit });
      if (json) printJson(api_keys);
      else
        print(
          table<ApiKey>(api_keys, [
            { header: 'id', value: (k) => k.id },
            { header: 'name', value: (k) => k.name },
            { header: 'prefix', value: (k) => k.prefix },
            { header: 'roles', value: (k) => k.roles },
            { header: 'state', value: keyState },
            { header: 'expires', value: (k) => k.expires_at },
            { header: 'last used', value: (k) => ago(k.last_used_at) },
            { header: 'created', value: (k) => ago(k.created_at) },
          ]),
        );
      return 0;
    }
    case 'api-keys revoke': {
      await client.revokeApiKey(need(arg, 'the key id'));
      if (json) printJson({ revoked: arg });
      else print(`revoked ${arg}`);
      return 0;
    }
    case 'agents list': {
      const { agents } = await client.listAgents({ capability: values.capability, status: values.status as Agent['status'], type: values.type as Agent['type'], limit });
      if (json) printJson(agents);
      else
        print(
          table<Agent>(agents, [
            { header: 'id', value: (a) => a.id },
            { header: 'name', value: (a) => a.name, max: 30 },
            { header: 'status', value: (a) => a.status },
            { header: 'capabilities', value: (a) => a.capabilities, max: 40 },
            { header: 'load', value: (a) => `${a.running_tasks}/${a.max_parallel_tasks}` },
            { header: 'heartbeat', value: (a) => ago(a.last_heartbeat) },
          ]),
        );
      return 0;
    }
    case 'tasks list': {
      const { tasks } = await client.listTasks({ status: values.status, type: values.type, agent_id: values['agent-id'], limit });
      if (json) printJson(tasks);
      else print(table(tasks, TASK_COLUMNS));
      return 0;
    }
    case 'tasks get': {
      const task = await client.getTask(need(arg, 'the task id'));
      if (json) printJson(task);
      else
        print(
          details(task as unknown as Record<string, unknown>, [
            'id', 'type', 'status', 'priority', 'progress', 'attempt', 'max_attempts', 'assigned_agent', 'required_capabilities',
            'file_dependencies', 'payload', 'result', 'error', 'execution_time', 'created_at', 'completed_at',
          ]),
        );
      return 0;
    }
    case 'tasks submit': {
      const body = readJsonFile(need(arg, 'a task JSON file'));
      const bodies = (Array.isArray(body) ? body : [body]) as Parameters<AgentManagerClient['createTask']>[0][];
      const created: Task[] = [];
      for (const b of bodies) created.push(await client.createTask(b));
      const final = values.wait ? await waitForTasks(client, created.map((t) => t.id), json) : created;
      if (json) printJson(Array.isArray(body) ? final : final[0]);
      else print(table(final, TASK_COLUMNS));
      return final.some((t) => t.status === 'failed' || t.status === 'cancelled') ? 1 : 0;
    }
    case 'tasks cancel':
    case 'tasks retry': {
      const id = need(arg, 'the task id');
      const task = action === 'cancel' ? await client.cancelTask(id) : await client.retryTask(id);
      if (json) printJson(task);
      else print(table([task], TASK_COLUMNS));
      return 0;
    }
    case 'workflows submit':
    case 'workflows get': {
      try {
        const wf = action === 'submit' ? await client.createWorkflow(readJsonFile(need(arg, 'a workflow JSON file')) as Record<string, unknown>) : await client.getWorkflow(need(arg, 'the workflow id'));
        if (json) printJson(wf);
        else print(details(wf, ['id', 'name', 'status', 'total_tasks', 'completed_tasks', 'rework_cycle', 'created_at'].filter((k) => k in wf)));
        return 0;
      } catch (err) {
        if (err instanceof AgentManagerError && err.status === 404 && err.body.message === 'No such route') {
          process.stderr.write('This server has no /workflows endpoint (it predates workflows); submit the tasks one by one with `tasks submit`.\n');
          return 1;
        }
        throw err;
      }
    }
    case 'locks list': {
      const { locks } = await client.listLocks({ path: values.path, agent_id: values['agent-id'], limit });
      if (json) printJson(locks);
      else
        print(
          table<Lock>(locks, [
            { header: 'id', value: (l) => l.id },
            { header: 'path', value: (l) => l.path, max: 50 },
            { header: 'access', value: (l) => l.access },
            { header: 'holder', value: (l) => `${l.holder.type}:${l.holder.id}`, max: 44 },
            { header: 'task', value: (l) => l.task_id },
            { header: 'expires', value: (l) => l.expires_at },
          ]),
        );
      return 0;
    }
    case 'events tail': {
      const channel = (values.channel ?? 'all') as EventChannel;
      const stream = client.events({
        subscriptions: [{ channel, ...(values.id ? { id: values.id } : {}) }],
        after: values.after === undefined ? undefined : Number(values.after),
        onEvent: (e) => print(json ? safeJson(e) : describeEvent(e)),
        onStatus: (s) => {
          if (!json || s.state === 'error') process.stderr.write(`${printable(`[${s.state}${s.detail ? `: ${s.detail}` : ''}]`)}\n`);
        },
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        stream.ready.catch(() => resolve());
      });
      stream.close();
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    if (err instanceof AgentManagerError) {
      process.stderr.write(`${printable(`error: ${err.body.message} (${err.status} ${err.body.code}${err.body.request_id ? `, request ${err.body.request_id}` : ''})`)}\n`);
      if (err.body.details && Object.keys(err.body.details).length) process.stderr.write(`${safeJson(err.body.details, 2)}\n`);
      if (err.status === 401) process.stderr.write('Log in with `npm run cli -- login` or set AGENTMANAGER_TOKEN.\n');
    } else if (isConnectionError(err)) {
      process.stderr.write(`error: ${err.message}. Is the server running? (--url or AGENTMANAGER_URL)\n`);
    } else {
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    process.exit(1);
  },
);
