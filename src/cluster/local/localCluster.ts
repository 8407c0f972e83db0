import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openPostgresStore, type PostgresStores } from '../../store/postgres/index.ts';
import { type PostgresServer, startPostgresServer } from './postgresServer.ts';
import { type RedisServer, startRedisServer } from './redisServer.ts';
import { type ReplicaProcess, startReplica } from './replica.ts';
import { type RoundRobinProxy, startRoundRobinProxy } from './roundRobinProxy.ts';

/**
 * A whole cluster on this machine: a local redis-server and PostgreSQL, N gateway replicas as
 * child processes sharing them, and a round-robin proxy in front. Everything lives in one temp
 * directory that stop() removes: this is for trying cluster mode and benchmarking it, not for
 * keeping data.
 */
export interface LocalCluster {
  proxy: RoundRobinProxy;
  replicas: ReplicaProcess[];
  redis: RedisServer;
  postgres: PostgresServer;
  /** Replica configs, SQLite files, spools and logs. */
  dir: string;
  /** Proxy, then replicas (they flush their ledgers), then Redis and PostgreSQL; then the directory. */
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  replicas: number;
  /** The proxy's port; replica i listens on port + i (0: every port picked by the OS). */
  port: number;
  host: string;
  /**
   * The config every replica runs, as a config file holds it (`${VAR}` not yet expanded: each
   * replica expands it). Its storage section is replaced; redis_prefix and postgres_schema are kept.
   */
  config: Record<string, unknown>;
  /** Runs once against the fresh PostgreSQL store before any replica starts (e.g. to create a key). */
  seed?: (store: PostgresStores) => Promise<void>;
  env?: NodeJS.ProcessEnv;
  /** Flags for each replica's `node` (e.g. `--cpu-prof`). */
  replicaNodeFlags?: readonly string[];
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Cluster directories not yet removed by stop(): removed if this process exits first. */
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  if (!Number.isInteger(opts.replicas) || opts.replicas < 1) throw new Error('replicas must be at least 1');
  const log = opts.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  liveDirs.add(dir);
  const replicas: ReplicaProcess[] = [];
  let redis: RedisServer | null = null;
  let postgres: PostgresServer | null = null;
  let proxy: RoundRobinProxy | null = null;

  const stop = async () => {
    await proxy?.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all([redis?.stop(), postgres?.stop()]);
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };

  try {
    log('starting redis-server and PostgreSQL');
    const servers = await Promise.allSettled([startRedisServer(), startPostgresServer()]);
    if (servers[0].status === 'fulfilled') redis = servers[0].value;
    if (servers[1].status === 'fulfilled') postgres = servers[1].value;
    for (const s of servers) if (s.status === 'rejected') throw s.reason;
    if (!redis || !postgres) throw new Error('unreachable: both servers started');

    // Migrations run once here, not raced by N replicas starting together.
    const store = await openPostgresStore(postgres.url);
    try {
      await opts.seed?.(store);
    } finally {
      await store.close();
    }

    const storage = (opts.config.storage ?? {}) as Record<string, unknown>;
    const configFile = (i: number) => {
      const file = join(dir, `replica-${i}.yaml`);
      const config = {
        ...opts.config,
        storage: {
          ...pick(storage, ['redis_prefix', 'postgres_schema']),
          redis: redis?.url,
          postgres: postgres?.url,
          sqlite: join(dir, `replica-${i}.db`),
          spool: join(dir, `replica-${i}.spool`),
        },
      };
      writeFileSync(file, stringify(config));
      return file;
    };
    const launch = (i: number) =>
      startReplica({
        index: i,
        configFile: configFile(i),
        port: opts.port === 0 ? 0 : opts.port + i,
        host: opts.host,
        logFile: join(dir, `replica-${i}.log`),
        env: opts.env,
        nodeFlags: opts.replicaNodeFlags,
      });
    // The first replica seeds the config entities and the Redis counters; the others find them done.
    log('starting replica 1');
    replicas.push(await launch(1));
    if (opts.replicas > 1) log(`starting replicas 2..${opts.replicas}`);
    const rest = await Promise.allSettled(Array.from({ length: opts.replicas - 1 }, (_, k) => launch(k + 2)));
    for (const r of rest) if (r.status === 'fulfilled') replicas.push(r.value);
    for (const r of rest) if (r.status === 'rejected') throw r.reason;

    proxy = await startRoundRobinProxy({
      upstreams: replicas.map((r) => r.url),
      port: opts.port,
      host: opts.host,
    });
    return { proxy, replicas, redis, postgres, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function pick(from: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => from[k] !== undefined).map((k) => [k, from[k]]));
}
