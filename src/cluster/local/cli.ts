import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { DEMO_KEY_SECRET, DEMO_MASTER_KEY, demoConfig } from '../../config/demo.ts';
import { ConfigError, parseConfig } from '../../config/load.ts';
import { KeyService } from '../../identity/keys.ts';
import { type MockServer, startMock } from '../../mock/index.ts';
import type { PostgresStores } from '../../store/postgres/index.ts';
import { type LocalCluster, startLocalCluster } from './localCluster.ts';
import { findPostgresBinaries } from './postgresServer.ts';
import { redisServerInstalled } from './redisServer.ts';
import { REPLICA_HEADER } from './roundRobinProxy.ts';

/** The line `npm run cluster` prints last, once every process is up (tests and the bench wait for it). */
export const READY_LINE = /Tollgate cluster listening on (http:\/\/\S+)/;

/** Past this, a shutdown stops waiting: everything left is SIGKILLed. */
const SHUTDOWN_DEADLINE_MS = 30_000;

const USAGE = `Usage: npm run cluster -- [--replicas N] [--port P] [--host H] [--config tollgate.yaml]

Starts a local redis-server and PostgreSQL, N gateway replicas (child processes) sharing them,
and a round-robin proxy on --port in front of them. Replica i listens on port P+i.
Without --config: the demo (mock upstream, demo org, budgets and key), like \`npm start\`.
With --config: your config file; its storage section is replaced by the local servers.
Ctrl-C stops everything. Data lives in a temp directory and is deleted on exit.

  --replicas N   number of gateway replicas (default 3)
  --port P       proxy port (default 4000; 0 picks free ports for everything)
  --host H       listen address of the proxy and replicas (default 127.0.0.1)
  --config FILE  run this config instead of the demo's
  --cpu-prof DIR write a V8 CPU profile of each replica into DIR when it stops
                 (summarise with: npx tsx bench/cpuprofile.ts DIR)`;

interface CliOptions {
  replicas: number;
  port: number;
  host: string;
  config: string | null;
  /** Replicas run with `node --cpu-prof` into this directory. */
  cpuProfDir: string | null;
}

function parseOptions(argv: string[]): CliOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      replicas: { type: 'string', default: '3' },
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
      config: { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const int = (name: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`--${name} must be an integer in ${min}..${max}`);
    return n;
  };
  return {
    replicas: int('replicas', values.replicas, 1, 32),
    port: int('port', values.port, 0, 65_535),
    host: values.host,
    config: values.config ?? null,
    cpuProfDir: values['cpu-prof'] ? resolve(values['cpu-prof']) : null,
  };
}

class UsageError extends Error {}

/** `npm run cluster`: runs until SIGINT/SIGTERM, then stops every process it started. */
export async function runClusterCli(argv: string[]): Promise<void> {
  let opts: CliOptions | 'help';
  try {
    opts = parseOptions(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    console.log(USAGE);
    return;
  }
  const missing = [
    redisServerInstalled() ? null : 'redis-server (apt-get install redis-server)',
    findPostgresBinaries() ? null : 'PostgreSQL (apt-get install postgresql)',
  ].filter((m) => m !== null);
  if (missing.length > 0) {
    console.error(`npm run cluster needs ${missing.join(' and ')}.`);
    process.exitCode = 1;
    return;
  }

  // A signal while things are still starting: exit at once; the exit handlers of the server and
  // replica modules SIGKILL whatever was already started and remove their directories.
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => {
    console.error(`\n${signal} during startup: killing what was started`);
    process.exit(130);
  };
  process.on('SIGINT', (s) => onSignal(s));
  process.on('SIGTERM', (s) => onSignal(s));

  let mock: MockServer | null = null;
  let cluster: LocalCluster;
  let masterKey: string | null;
  try {
    let config: Record<string, unknown>;
    let seed: ((store: PostgresStores) => Promise<void>) | undefined;
    if (opts.config) {
      config = readConfigFile(opts.config);
    } else {
      mock = await startMock({ port: 0, latencyMs: 20, ttftMs: 20, interChunkMs: 5, outputTokens: 64 });
      // Parsed config round-trips through YAML unchanged (defaults included).
      config = JSON.parse(JSON.stringify(demoConfig(mock.url))) as Record<string, unknown>;
      seed = ensureDemoKey;
    }
    masterKey =
      process.env.TOLLGATE_MASTER_KEY ?? parseConfig({ ...config, storage: {} }).server.master_key ?? null;
    const progress = (line: string) => console.log(`[cluster] ${line}`);
    const replicaNodeFlags = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
    cluster = await startLocalCluster({ ...opts, config, seed, replicaNodeFlags, log: progress });
  } catch (err) {
    await mock?.close();
    console.error(err instanceof ConfigError || err instanceof UsageError ? err.message : err);
    process.exitCode = 1;
    return;
  }

  for (const r of cluster.replicas) {
    r.onUnexpectedExit((code, signal) =>
      console.error(
        `[cluster] replica ${r.index} (pid ${r.pid}) exited (${code ?? signal}); the proxy skips it. Log tail:\n${r.logTail(1_500)}`,
      ),
    );
  }
  console.log(banner(cluster, opts, mock, masterKey));

  let stopping = false;
  onSignal = (signal) => {
    // A second signal (npm and the terminal both deliver Ctrl-C) joins the shutdown under way.
    if (stopping) return;
    stopping = true;
    void shutdown(signal, cluster, mock);
  };
}

async function shutdown(
  signal: NodeJS.Signals,
  cluster: LocalCluster,
  mock: MockServer | null,
): Promise<void> {
  console.log(`\n${signal}: stopping the proxy, ${cluster.replicas.length} replicas, Redis and PostgreSQL`);
  const deadline = setTimeout(() => {
    console.error(`[cluster] still stopping after ${SHUTDOWN_DEADLINE_MS / 1000} s: killing what is left`);
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  try {
    await cluster.stop();
    await mock?.close();
    console.log('[cluster] stopped');
    process.exit(0);
  } catch (err) {
    console.error('[cluster] stop failed:', err);
    process.exit(1);
  } finally {
    clearTimeout(deadline);
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}`, [(err as Error).message]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`config file ${path} is not a mapping`, []);
  const config = raw as Record<string, unknown>;
  // Validated here once (storage aside: it is replaced), rather than failing in N replicas.
  parseConfig({ ...config, storage: {} });
  return config;
}

/** The demo's fixed key, so the printed examples work (as `tollgate start --demo` does). */
async function ensureDemoKey(store: PostgresStores): Promise<void> {
  const keys = new KeyService(store.entities, Date.now);
  await keys.load();
  if (keys.findBySecret(DEMO_KEY_SECRET)) return;
  await keys.create({
    name: 'demo',
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    costCenter: 'CC-1001',
    secret: DEMO_KEY_SECRET,
  });
}

function banner(
  cluster: LocalCluster,
  opts: CliOptions,
  mock: MockServer | null,
  masterKey: string | null,
): string {
  const url = cluster.proxy.url;
  const lines = [
    '',
    `Tollgate cluster: ${cluster.replicas.length} replicas sharing Redis and PostgreSQL, behind a round-robin proxy`,
    `  proxy:      ${url}  (responses carry ${REPLICA_HEADER}: 1..${cluster.replicas.length})`,
    ...cluster.replicas.map((r) => `  replica ${r.index}:  ${r.url}  (pid ${r.pid}, log ${r.logFile})`),
    `  redis:      ${cluster.redis.url}  (budget counters, reservations, rate limits)`,
    `  postgres:   ${cluster.postgres.url}  (config, keys, budgets, ledger)`,
    `  data:       ${cluster.dir} and the servers' temp dirs (deleted on exit)`,
    masterKey
      ? `  master key: ${masterKey}  (admin API and CLI)`
      : '  admin API: disabled (set TOLLGATE_MASTER_KEY)',
  ];
  if (mock) {
    const master = masterKey ?? DEMO_MASTER_KEY;
    lines.push(
      '',
      `Demo mode: mock upstream at ${mock.url} (real model names and prices, simulated answers).`,
      `  demo key (team search, project ranker, env prod): ${DEMO_KEY_SECRET}`,
      '',
      'Try it (each call goes to the next replica; all share one budget and one ledger):',
      `  for i in 1 2 3; do curl -si ${url}/v1/chat/completions -H "Authorization: Bearer ${DEMO_KEY_SECRET}" \\`,
      `    -H 'content-type: application/json' -d '{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Hello"}]}' \\`,
      `    | grep -i -e ${REPLICA_HEADER} -e x-tollgate-cost-usd; done`,
      '',
      `  TOLLGATE_URL=${url} TOLLGATE_MASTER_KEY=${master} npx tollgate budgets status`,
    );
  } else if (opts.config) {
    lines.push('', `Config: ${opts.config} (storage replaced by the local Redis and PostgreSQL).`);
  }
  lines.push('', `Tollgate cluster listening on ${url} — Ctrl-C stops everything.`);
  return lines.join('\n');
}
