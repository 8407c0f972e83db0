import { DEMO_KEY_SECRET, DEMO_MASTER_KEY, demoConfig } from '../config/demo.ts';
import { loadConfigFile } from '../config/load.ts';
import type { RawConfig } from '../config/schema.ts';
import { startMock } from '../mock/index.ts';
import { startGateway } from '../server/gateway.ts';

export interface StartOptions {
  config?: string;
  port?: number;
  host?: string;
  db?: string;
  demo?: boolean;
}

/** `tollgate start`: runs until SIGINT/SIGTERM, flushing the ledger on the way out. */
export async function runStart(opts: StartOptions): Promise<void> {
  let config: RawConfig;
  let mock: Awaited<ReturnType<typeof startMock>> | null = null;
  if (opts.demo) {
    mock = await startMock({ port: 0, latencyMs: 20, ttftMs: 20, interChunkMs: 5, outputTokens: 64 });
    config = demoConfig(mock.url, { port: opts.port, sqlite: opts.db });
  } else {
    config = loadConfigFile(opts.config ?? 'tollgate.yaml');
  }
  const masterKey = process.env.TOLLGATE_MASTER_KEY ?? config.server.master_key ?? null;
  const gateway = await startGateway({
    config,
    dbFile: opts.db,
    port: opts.port,
    host: opts.host,
    masterKey,
  });
  const { services } = gateway;
  if (opts.demo) await ensureDemoKey(gateway.services);

  const lines = [
    `Tollgate listening on ${gateway.url}`,
    `  ledger: ${opts.db ?? config.storage.sqlite} (SQLite, WAL)`,
    `  models: ${[...services.config.models.keys()].join(', ')}`,
    `  budgets: ${services.budgets
      .policies()
      .map((p) => p.id)
      .join(', ')}`,
    services.masterKey
      ? '  admin API: enabled (master key set)'
      : '  admin API: disabled (set TOLLGATE_MASTER_KEY)',
    `  dashboard: ${gateway.url}/dashboard` +
      (services.config.raw.telemetry.prometheus.enabled
        ? `   metrics: ${gateway.url}${services.config.raw.telemetry.prometheus.path}`
        : ''),
  ];
  if (gateway.recovery.orphanedSettled > 0) {
    lines.push(
      `  recovered ${gateway.recovery.orphanedSettled} calls left pending by a crash (settled at reserved, flagged)`,
    );
  }
  if (opts.demo && mock) {
    lines.push(
      '',
      `Demo mode: mock upstream at ${mock.url} (real model names and prices, simulated answers).`,
      `  demo key (team search, project ranker, env prod): ${DEMO_KEY_SECRET}`,
      `  master key (admin API and CLI):                   ${masterKey ?? DEMO_MASTER_KEY}`,
      '',
      'Try it:',
      `  curl -s ${gateway.url}/v1/chat/completions -H "Authorization: Bearer ${DEMO_KEY_SECRET}" \\`,
      `    -H 'content-type: application/json' -d '{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
      `  node -e 'const OpenAI=require("openai");new OpenAI({baseURL:"${gateway.url}/v1",apiKey:"${DEMO_KEY_SECRET}"})` +
        `.chat.completions.create({model:"gpt-4.1-mini",messages:[{role:"user",content:"Hi"}]}).then(r=>console.log(r.usage))'`,
      '',
      `  TOLLGATE_URL=${gateway.url} TOLLGATE_MASTER_KEY=${masterKey ?? DEMO_MASTER_KEY} npx tollgate budgets status`,
    );
  }
  console.log(lines.join('\n'));

  const shutdown = async (signal: string) => {
    console.log(`\n${signal}: flushing the ledger and stopping`);
    await gateway.close();
    await mock?.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

async function ensureDemoKey(svc: Awaited<ReturnType<typeof startGateway>>['services']): Promise<void> {
  if (svc.keys.findBySecret(DEMO_KEY_SECRET)) return;
  await svc.keys.create({
    name: 'demo',
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    costCenter: 'CC-1001',
    secret: DEMO_KEY_SECRET,
  });
}
