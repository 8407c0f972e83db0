import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'tollgate.js');

/** A server running in its own process, so its CPU is its own and it can be SIGKILLed. */
export interface Child {
  name: string;
  proc: ChildProcess;
  url: string;
  output: () => string;
}

const running = new Set<Child>();

export interface SpawnOptions {
  name: string;
  /** Arguments after `node`, e.g. [bin/tollgate.js, 'start', ...]. */
  nodeArgs: string[];
  env?: Record<string, string>;
  /** Working directory; the repo root by default. */
  cwd?: string;
  /** The first capture group is the child's base URL. */
  ready: RegExp;
  timeoutMs?: number;
}

/** Starts `node <nodeArgs>` and waits until its output matches `ready`. */
export async function spawnChild(opts: SpawnOptions): Promise<Child> {
  const proc = spawn(process.execPath, opts.nodeArgs, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => {
    // Keep the head (startup banner) and a bounded tail; a chatty child must not grow us.
    out = out.length < 64_000 ? out + d.toString() : out.slice(0, 32_000) + d.toString().slice(-32_000);
  };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  const child: Child = { name: opts.name, proc, url: '', output: () => out };
  running.add(child);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    const m = opts.ready.exec(out);
    if (m?.[1]) {
      child.url = m[1];
      return child;
    }
    if (proc.exitCode !== null || proc.signalCode !== null) {
      running.delete(child);
      throw new Error(
        `${opts.name} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${out}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  await stopChild(child, 0);
  throw new Error(`${opts.name} did not become ready in time:\n${out}`);
}

export function spawnMock(): Promise<Child> {
  // The CLI mock answers at once (latency 0) with 16-token completions (the request's max_tokens caps it too).
  return spawnChild({
    name: 'mock',
    nodeArgs: [CLI, 'mock', '--port', '0'],
    ready: /listening on (http:\/\/\S+)/,
  });
}

/** The bare-proxy baseline (bench/bare-proxy.ts) in front of `upstreamUrl`. */
export function spawnBareProxy(upstreamUrl: string): Promise<Child> {
  return spawnChild({
    name: 'bare proxy',
    nodeArgs: ['--import', 'tsx', join(ROOT, 'bench', 'bare-proxy.ts'), upstreamUrl],
    ready: /listening on (http:\/\/\S+)/,
  });
}

/**
 * With extra node flags (profiling), the gateway runs in `scratchDir`: some flags drop files in
 * the working directory (`--perf-basic-prof` writes isolate-*-v8.log), and they must not land in the repo.
 */
export function spawnGateway(
  configFile: string,
  env: Record<string, string>,
  nodeFlags: string[],
  scratchDir: string,
) {
  const scratch = nodeFlags.length > 0;
  return spawnChild({
    name: 'gateway',
    nodeArgs: [...nodeFlags, CLI, 'start', '--config', configFile],
    env: scratch ? { ...env, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json') } : env,
    cwd: scratch ? scratchDir : ROOT,
    ready: /listening on (http:\/\/\S+)/,
  });
}

/** SIGTERM (lets the gateway flush and write a --cpu-prof profile), then SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 5_000): Promise<void> {
  running.delete(child);
  const { proc } = child;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  if (graceMs > 0) {
    proc.kill('SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'exited') return;
  }
  proc.kill('SIGKILL');
  await exited;
}

/** Every child still running, stopped in parallel (used in `finally` and on signals). */
export async function stopAll(graceMs = 3_000): Promise<void> {
  await Promise.all([...running].map((c) => stopChild(c, graceMs)));
}

/** Synchronous last resort for `process.on('exit')`: SIGKILL whatever is left. */
export function killAllNow(): void {
  for (const c of running) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  }
  running.clear();
}

/** User+system CPU milliseconds consumed so far by a process (Linux /proc), or null elsewhere. */
export function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS : null;
  } catch {
    return null;
  }
}

/** Machine-wide CPU milliseconds so far, all cores (Linux /proc/stat), or null elsewhere. */
export function machineCpuMs(): { busy: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((n) => !Number.isFinite(n))) return null;
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]!;
    return { busy: (busy * 1000) / CLOCK_TICKS, steal: (f[7]! * 1000) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** USER_HZ; 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;
