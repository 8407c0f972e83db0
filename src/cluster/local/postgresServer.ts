import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './freePort.ts';
import { type RunAs, withDeathSignal } from './setpriv.ts';

/** A throwaway PostgreSQL server (Debian package) in a temp dir. */
export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown, then the temp dir is removed. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and every backend, like `kill -9` of the database host; data dir kept. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data (after kill() it runs crash recovery). */
  restart(): Promise<void>;
}

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

const BINARY_DIRS = [
  '/usr/local/bin',
  '/usr/lib/postgresql/17/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/15/bin',
];

export function findPostgresBinaries(): PostgresBinaries | null {
  for (const dir of BINARY_DIRS) {
    const initdb = join(dir, 'initdb');
    const postgres = join(dir, 'postgres');
    if (existsSync(initdb) && existsSync(postgres)) return { initdb, postgres };
  }
  return null;
}

/** postgres refuses to run as root: when we are root, run it as an unprivileged account. */
function unprivilegedAccount(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of ['postgres', 'nobody']) {
    const line = passwd.find((l) => l.startsWith(`${name}:`));
    const [, , uid, gid] = line?.split(':') ?? [];
    if (uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(
    'running as root and found neither a "postgres" nor a "nobody" account to run PostgreSQL as',
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const child of children) killGroup(child);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startPostgresServer(opts: { database?: string } = {}): Promise<PostgresServer> {
  const bins = findPostgresBinaries();
  if (!bins) throw new Error('PostgreSQL binaries not found');
  const user = unprivilegedAccount();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pg-'));
  tempDirs.add(dir);
  if (user) chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' };

  const init = withDeathSignal(
    [bins.initdb, '-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '-N'],
    'KILL',
    user,
  );
  execFileSync(init.command, init.args, {
    ...init.uidGid,
    env,
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });

  const port = await freePort();
  const database = opts.database ?? 'tollgate';
  let child: ChildProcess | null = null;

  const launch = async (): Promise<void> => {
    const run = withDeathSignal(
      [
        bins.postgres,
        '-D',
        dataDir,
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-k',
        dir,
        // fsync=off only risks data on an OS crash; commits still reach the kernel, so a
        // SIGKILLed server keeps every acknowledged row. Never synchronous_commit=off here:
        // that acknowledges commits still in WAL buffers, which kill() would then lose.
        '-c',
        'fsync=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      'KILL',
      user,
    );
    const log = openSync(logFile, 'a');
    const proc = spawn(run.command, run.args, {
      ...run.uidGid,
      env,
      cwd: dir,
      // Its own process group, so kill() reaches the backends too (and a terminal's Ctrl-C does not).
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    child = proc;
    await waitUntilReady(proc, port, logFile);
  };

  await launch();
  await adminQuery(port, `CREATE DATABASE ${database}`);

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc) return;
    if (signal === 'SIGKILL') killGroup(proc);
    else proc.kill(signal);
    const timer = setTimeout(() => killGroup(proc), 10_000);
    await exited(proc);
    clearTimeout(timer);
  };

  return {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    dataDir,
    async stop() {
      await shutdown('SIGINT');
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
    kill: () => shutdown('SIGKILL'),
    async restart() {
      await shutdown('SIGINT');
      await launch();
    },
  };
}

async function adminQuery(port: number, text: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function waitUntilReady(proc: ChildProcess, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`postgres exited during startup:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    try {
      await adminQuery(port, 'SELECT 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`postgres did not accept connections in 30 s: ${(err as Error).message}`);
      }
      await sleep(50);
    }
  }
}
