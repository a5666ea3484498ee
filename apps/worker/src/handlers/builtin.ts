import { execFile } from 'node:child_process';
import { type HandlerContext, HandlerError, NonRetryableError, type TaskHandler } from './types';

const payloadOf = (task: { payload: unknown }): Record<string, unknown> =>
  task.payload && typeof task.payload === 'object' && !Array.isArray(task.payload) ? (task.payload as Record<string, unknown>) : {};

/** Returns the payload. */
export const echo: TaskHandler = async (task, ctx) => {
  ctx.record({ thought: 'echo the payload', action: 'echo', observation: task.payload });
  return { echo: task.payload };
};

/** Waits `payload.ms` milliseconds (default 1000), reporting progress; stops early when aborted. */
export const sleep: TaskHandler = async (task, ctx) => {
  const ms = Number(payloadOf(task).ms ?? 1000);
  if (!Number.isFinite(ms) || ms < 0) throw new NonRetryableError('payload.ms must be a non-negative number', 'invalid_payload');
  const started = Date.now();
  const step = Math.max(50, Math.min(1000, ms / 4));
  while (Date.now() - started < ms) {
    await delay(Math.min(step, ms - (Date.now() - started)), ctx.signal);
    void ctx.progress(Math.min(1, (Date.now() - started) / Math.max(ms, 1)));
  }
  ctx.record({ thought: `wait ${ms} ms`, action: 'sleep', observation: { slept_ms: Date.now() - started } });
  return { slept_ms: ms };
};

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * POSTs the task JSON to this agent's own endpoint (`endpoints.http` from its registration) and
 * returns the JSON answer. 4xx → the task fails for good; 5xx, timeouts, refusals → retryable.
 */
export const http: TaskHandler = async (task, ctx) => {
  const url = ctx.agent.endpoints?.http;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
    throw new NonRetryableError('This agent registered no endpoints.http URL for the http handler', 'no_endpoint');
  }
  const timeoutMs = Math.min(task.timeout, ctx.config.http.timeout_sec) * 1000;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(task),
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw new HandlerError(`POST ${url} failed: ${err instanceof Error ? err.message : String(err)}`, 'endpoint_unreachable');
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // a text answer is kept as text
  }
  ctx.record({ thought: `POST the task to ${url}`, action: 'http_post', observation: { status: res.status } });
  if (res.status >= 400 && res.status < 500) throw new NonRetryableError(`The endpoint answered ${res.status}`, 'endpoint_rejected', { status: res.status, body });
  if (!res.ok) throw new HandlerError(`The endpoint answered ${res.status}`, 'endpoint_error', { status: res.status, body });
  return body;
};

/**
 * Runs an allow-listed command (config `shell.allow`, entries like "wc -c": the executable and
 * fixed arguments, split on spaces) with the task payload as JSON on stdin. `payload.command`
 * must equal an entry exactly. No shell is involved (execFile), and nothing from the payload
 * becomes an argument. Off unless config `shell.enabled` is true.
 */
export const shell: TaskHandler = async (task, ctx) => {
  const { enabled, allow, timeout_sec } = ctx.config.shell;
  if (!enabled) throw new NonRetryableError('The shell handler is disabled on this worker (config shell.enabled)', 'shell_disabled');
  const command = payloadOf(task).command;
  if (typeof command !== 'string' || !allow.includes(command)) {
    throw new NonRetryableError(`Command ${JSON.stringify(command)} is not on this worker's allow list`, 'command_not_allowed', {
      command: typeof command === 'string' ? command : null,
    });
  }
  const [file, ...args] = command.trim().split(/\s+/);
  const timeoutMs = Math.min(task.timeout, timeout_sec ?? task.timeout) * 1000;
  const { code, stdout, stderr } = await run(file, args, JSON.stringify(task.payload), timeoutMs, ctx);
  ctx.record({ thought: `run the allow-listed command "${command}"`, action: 'shell', observation: { exit_code: code } });
  if (code !== 0) throw new HandlerError(`"${command}" exited with ${code}`, 'command_failed', { exit_code: code, stderr: stderr.slice(-4000) });
  let output: unknown = stdout;
  try {
    output = JSON.parse(stdout);
  } catch {
    // plain text output
  }
  return { exit_code: code, output, stderr: stderr.slice(-4000) };
};

function run(file: string, args: string[], input: string, timeoutMs: number, ctx: HandlerContext): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { shell: false, timeout: timeoutMs, maxBuffer: 10 * 1024 * 1024, signal: ctx.signal }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        if (ctx.signal.aborted) return reject(ctx.signal.reason as Error);
        return reject(new HandlerError(`cannot run ${file}: ${err.message}`, err.killed ? 'command_timeout' : 'command_error'));
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined); // a command that does not read stdin
    child.stdin?.end(input);
  });
}

export const BUILTIN_HANDLERS: Record<string, TaskHandler> = { echo, sleep, http, shell };
