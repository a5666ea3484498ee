import { type ChildProcess,spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { replaceTscAliasPaths } from 'tsc-alias';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..', '..');

/**
 * Compiles one entry point (and what it imports: libs/client, libs/contracts) with the repo's
 * tsconfig into test-artifacts/<dir> — the same JavaScript `npm run build` emits for these files,
 * without building (or depending on) the rest of the tree. Each tool gets its own directory so
 * suites running in parallel never write the same file. The libraries' path aliases are rewritten
 * as in the build (tsc-alias). Returns the compiled entry point.
 */
async function compileEntry(entry: string, dir: string): Promise<string> {
  const out = join(ROOT, 'test-artifacts', dir);
  const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), { outDir: out, sourceMap: false, noEmit: false }, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error('cannot read tsconfig.build.json');
  const program = ts.createProgram([join(ROOT, entry)], { ...parsed.options, outDir: out, rootDir: ROOT });
  const emitted = program.emit();
  const errors = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length) throw new Error(ts.formatDiagnostics(errors, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' }));
  await replaceTscAliasPaths({ configFile: join(ROOT, 'tsconfig.build.json'), outDir: out });
  return join(out, entry.replace(/\.ts$/, '.js'));
}

/** The reference worker's compiled entry point. */
export function buildWorker(): Promise<string> {
  return compileEntry('apps/worker/src/main.ts', 'worker-build');
}

/** The admin CLI's compiled entry point. */
export function buildCli(): Promise<string> {
  return compileEntry('apps/cli/src/main.ts', 'cli-build');
}

export function artifactPath(name: string): string {
  mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  return join(ROOT, 'test-artifacts', name);
}

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** One worker OS process, its parsed JSON log lines and its exit. */
export class WorkerProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(entry: string, config: Record<string, unknown>, env: Record<string, string> = {}) {
    const file = artifactPath(`worker-${String(config.client_agent_id)}-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(config));
    this.child = spawn(process.execPath, [entry, '--config', file], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ level: 'raw', msg: line });
        }
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString('utf8')));
    this.exited = new Promise((done) => this.child.once('exit', (code, signal) => done({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Waits for a log line with this msg (and matching fields). */
  async waitForLog(msg: string, match: (l: LogLine) => boolean = () => true, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.logs.find((l) => l.msg === msg && match(l));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`worker never logged "${msg}"; last lines: ${JSON.stringify(this.logs.slice(-8))} stderr: ${this.stderr.join('')}`);
  }

  /** The agent id it registered as. */
  async agentId(): Promise<string> {
    return String((await this.waitForLog('registered')).agent_id);
  }
}
