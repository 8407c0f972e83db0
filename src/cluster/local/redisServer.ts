import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './freePort.ts';
import { withDeathSignal } from './setpriv.ts';

/** A local `redis-server` (Debian package) with no persistence, so a restart starts empty. */
export interface RedisServer {
  url: string;
  port: number;
  pid(): number | undefined;
  /** Stops it cleanly (SIGTERM; SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
  /** Kills it like a crash (SIGKILL). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connected, but no answers — a hung Redis. */
  pause(): void;
  resume(): void;
}

const STOP_GRACE_MS = 5_000;

/** Servers still running and their directories, cleaned up if this process exits without stopping them. */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

export function redisServerInstalled(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-'));
  dirs.add(dir);
  let proc = await launch(port, dir);
  const exited = async (p: ChildProcess, signal: NodeJS.Signals) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const done = once(p, 'exit');
    p.kill(signal);
    // A paused server only acts on SIGTERM once it runs again.
    p.kill('SIGCONT');
    const timer = setTimeout(() => p.kill('SIGKILL'), STOP_GRACE_MS);
    await done;
    clearTimeout(timer);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => proc.pid,
    async stop() {
      await exited(proc, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
    async kill() {
      await exited(proc, 'SIGKILL');
    },
    async restart() {
      await exited(proc, 'SIGKILL');
      proc = await launch(port, dir);
    },
    pause() {
      proc.kill('SIGSTOP');
    },
    resume() {
      proc.kill('SIGCONT');
    },
  };
}

async function launch(port: number, dir: string): Promise<ChildProcess> {
  const argv = [
    'redis-server',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ];
  const run = withDeathSignal([...argv, '--dir', dir], 'KILL');
  // Its own process group: a Ctrl-C in the terminal reaches the supervisor, which stops the
  // gateways before Redis, instead of every process at once.
  const proc = spawn(run.command, run.args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}:\n${output}`);
    if (await accepts(port)) {
      proc.stdout?.off('data', collect);
      proc.stderr?.off('data', collect);
      proc.stdout?.resume();
      proc.stderr?.resume();
      return proc;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  proc.kill('SIGKILL');
  throw new Error(`redis-server did not start on port ${port}:\n${output}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
