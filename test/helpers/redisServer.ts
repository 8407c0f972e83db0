import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real `redis-server` for the cluster-mode tests: no persistence, so a restart starts empty. */
export interface RedisServer {
  url: string;
  port: number;
  /** Stops it cleanly (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
  /** Kills it like a crash (SIGKILL). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connected, but no answers — a hung Redis. */
  pause(): void;
  resume(): void;
}

const SKIP_MESSAGE = 'SKIPPED: redis-server not installed — Redis contract tests did not run';
let warned = false;

/** Servers still running, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

export function redisServerInstalled(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

/** True when the Redis suites can run; otherwise prints the one loud line, once per test file. */
export function redisSuitesCanRun(): boolean {
  if (redisServerInstalled()) return true;
  if (!warned) {
    warned = true;
    console.warn(SKIP_MESSAGE);
  }
  return false;
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-'));
  let proc = await launch(port, dir);
  const exited = async (p: ChildProcess, signal: NodeJS.Signals) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const done = once(p, 'exit');
    p.kill(signal);
    // A paused server only acts on SIGTERM once it runs again.
    p.kill('SIGCONT');
    await done;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await exited(proc, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
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
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const proc = spawn('redis-server', [...args, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
