import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDeathSignal } from './setpriv.ts';

const CLI = join(import.meta.dirname, '..', '..', '..', 'bin', 'tollgate.js');
const READY = /listening on (http:\/\/\S+)/;

/** One gateway replica: `node bin/tollgate.js start --config <file> --port N` in its own process. */
export interface ReplicaProcess {
  /** 1-based, as the proxy's x-tollgate-replica header names it. */
  index: number;
  url: string;
  pid: number;
  /** Its stdout and stderr (startup banner, JSON logs). */
  logFile: string;
  running(): boolean;
  /** The last `bytes` of its log, for error messages. */
  logTail(bytes?: number): string;
  /** Calls `listener` if the process ends before stop() was asked. */
  onUnexpectedExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  /** SIGTERM (the gateway flushes its ledger), SIGKILL to its process group after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface ReplicaOptions {
  index: number;
  configFile: string;
  port: number;
  host: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Flags for `node` itself, before the CLI (e.g. `--cpu-prof`: NODE_OPTIONS refuses it). */
  nodeFlags?: readonly string[];
  readyTimeoutMs?: number;
}

/** Replicas still running, SIGKILLed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) killGroup(proc);
});

export async function startReplica(opts: ReplicaOptions): Promise<ReplicaProcess> {
  const run = withDeathSignal(
    [
      process.execPath,
      ...(opts.nodeFlags ?? []),
      CLI,
      'start',
      '--config',
      opts.configFile,
      '--port',
      String(opts.port),
      '--host',
      opts.host,
    ],
    // TERM, not KILL: if the supervisor is killed hard, the replica still flushes its ledger.
    'TERM',
  );
  const log = openSync(opts.logFile, 'a');
  // Output goes straight to a file: the supervisor (which also runs the proxy) copies no log bytes.
  // Its own process group: a Ctrl-C reaches the supervisor, which stops replicas before their stores.
  const proc = spawn(run.command, run.args, {
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  if (proc.pid === undefined) throw new Error(`replica ${opts.index} could not be started`);
  const pid = proc.pid;
  live.add(proc);
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      live.delete(proc);
      resolve();
    });
  });
  const logTail = (bytes = 4_000) =>
    (existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : '').slice(-bytes);
  const url = await waitUntilReady(proc, opts, logTail);
  return {
    index: opts.index,
    url,
    pid,
    logFile: opts.logFile,
    running: () => proc.exitCode === null && proc.signalCode === null,
    logTail,
    onUnexpectedExit(listener) {
      proc.once('exit', (code, signal) => {
        if (!stopping) listener(code, signal);
      });
    },
    async stop(graceMs = 10_000) {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => killGroup(proc), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntilReady(
  proc: ChildProcess,
  opts: ReplicaOptions,
  logTail: (bytes?: number) => string,
): Promise<string> {
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    const found = READY.exec(logTail(64_000));
    if (found?.[1]) return found[1];
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `replica ${opts.index} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${logTail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  killGroup(proc);
  throw new Error(`replica ${opts.index} was not ready in time:\n${logTail()}`);
}

function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
