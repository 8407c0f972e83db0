import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ChildGateway {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts `tollgate start` as a real child process (so it can be killed with SIGKILL). */
export async function spawnGateway(args: string[], env: Record<string, string> = {}): Promise<ChildGateway> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'tollgate.js'), 'start', ...args], {
    cwd: ROOT,
    env: { ...process.env, TOLLGATE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m?.[1]) return { proc, url: m[1], output: () => out };
    if (proc.exitCode !== null) throw new Error(`gateway exited ${proc.exitCode}:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`gateway did not start:\n${out}`);
}

export async function killHard(child: ChildGateway): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const exited = once(child.proc, 'exit');
  child.proc.kill('SIGKILL');
  await exited;
}
