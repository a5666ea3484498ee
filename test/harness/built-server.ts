import { type ChildProcess,spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '@agentmanager/database';

const ROOT = join(__dirname, '../..');
export const MAIN_JS = join(ROOT, 'dist/apps/server/src/main.js');

/** The newest modification time of any file under `dir` (0 when it does not exist). */
function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * `npm run build`'s tsc and tsc-alias steps: compiles into dist/, unless dist/ is newer than every source under
 * apps/server, libs and tsconfig (several suites start the built server; one build serves them
 * all). Fails the caller if main.js is not produced.
 */
export function buildServer(): void {
  const sources = Math.max(newestMtime(join(ROOT, 'apps/server/src')), newestMtime(join(ROOT, 'libs')), statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs);
  if (existsSync(MAIN_JS) && statSync(MAIN_JS).mtimeMs > sources) return;
  const result = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  const aliases = spawnSync('npx', ['tsc-alias', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (aliases.status !== 0) throw new Error(`tsc-alias failed:\n${aliases.stdout}\n${aliases.stderr}`);
  if (!existsSync(MAIN_JS)) throw new Error(`the build produced no ${MAIN_JS}:\n${result.stdout}\n${result.stderr}`);
}

export interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  port: number;
  /** Every stdout line (JSON logs). */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Spawns `node dist/apps/server/src/main.js` and waits until /health/ready answers 200. */
export async function startServerProcess(env: Record<string, string>, port?: number): Promise<ServerProcess> {
  const p = port ?? (await freePort());
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(p), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => lines.push(...d.toString('utf8').split('\n').filter(Boolean)));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const baseUrl = `http://127.0.0.1:${p}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${stderr}\n${lines.join('\n')}`);
    const ok = await fetch(`${baseUrl}/health/ready`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not become ready: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, baseUrl, port: p, lines, exited };
}
