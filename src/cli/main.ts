#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/load.ts';
import type { MockFault } from '../mock/index.ts';
import { StoreLockedError } from '../store/sqlite/index.ts';
import { registerAlertCommands } from './alerts.ts';
import { registerAuditCommands } from './audit.ts';
import { AdminClient, CliError } from './client.ts';
import { registerExportCommand } from './export.ts';
import { runStart } from './start.ts';
import { printTable } from './table.ts';

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

interface GlobalOpts {
  url?: string;
  masterKey?: string;
  json?: boolean;
}

const program = new Command();
program
  .name('tollgate')
  .description('Tollgate: an LLM gateway for cost governance')
  .option(
    '--url <url>',
    'gateway base URL for admin commands (env TOLLGATE_URL)',
    process.env.TOLLGATE_URL ?? 'http://127.0.0.1:4000',
  )
  .option('--master-key <key>', 'admin master key (env TOLLGATE_MASTER_KEY)', process.env.TOLLGATE_MASTER_KEY)
  .option('--json', 'print raw JSON instead of tables')
  .showHelpAfterError();

const client = () => {
  const o = program.opts<GlobalOpts>();
  return new AdminClient(o.url ?? 'http://127.0.0.1:4000', o.masterKey);
};
const asJson = () => program.opts<GlobalOpts>().json === true;
const show = (value: unknown, table: () => void) =>
  asJson() ? console.log(JSON.stringify(value, null, 2)) : table();

program
  .command('start')
  .description('start the gateway')
  .option('-c, --config <file>', 'config file', 'tollgate.yaml')
  .option('-p, --port <port>', 'listen port (overrides config)', int)
  .option('--host <host>', 'listen address (overrides config)')
  .option('--db <file>', 'SQLite file (overrides config)')
  .option('--demo', 'demo mode: in-process mock upstream, demo org/teams/budgets and a printed demo key')
  .action(async (o: { config: string; port?: number; host?: string; db?: string; demo?: boolean }) => {
    await runStart(o);
  });

program
  .command('mock')
  .description('run the mock upstream (OpenAI wire format) for local testing and benchmarks')
  .option('-p, --port <port>', 'listen port', int, 4010)
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--latency-ms <ms>', 'delay before a JSON response', int, 0)
  .option('--ttft-ms <ms>', 'delay before the first stream chunk', int, 0)
  .option('--inter-chunk-ms <ms>', 'delay between stream chunks', int, 0)
  .option('--output-tokens <n>', 'completion length when the request does not cap it lower', int, 16)
  .option(
    '--fault <fault>',
    "fault on every call unless a request's x-mock-fault overrides it (429, 500, 503, 529, timeout, cut, no-usage, bad-json, stream-error)",
  )
  .option('--api-key <key>', 'require this bearer key')
  .action(
    async (o: {
      port: number;
      host: string;
      latencyMs: number;
      ttftMs: number;
      interChunkMs: number;
      outputTokens: number;
      fault?: string;
      apiKey?: string;
    }) => {
      // Loaded on demand: the mock pulls in the tokenizer, which other commands do not need.
      const { MOCK_FAULTS } = await import('../mock/index.ts');
      const { runMockCli } = await import('../mock/cli.ts');
      if (o.fault !== undefined && !(MOCK_FAULTS as readonly string[]).includes(o.fault)) {
        throw new CliError(`--fault must be one of ${MOCK_FAULTS.join(', ')}`);
      }
      await runMockCli(o.port, {
        host: o.host,
        latencyMs: o.latencyMs,
        ttftMs: o.ttftMs,
        interChunkMs: o.interChunkMs,
        outputTokens: o.outputTokens,
        fault: (o.fault as MockFault | undefined) ?? null,
        apiKey: o.apiKey ?? null,
      });
    },
  );

/** A positive whole number option, or undefined when absent; anything else is a CLI error. */
function intOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new CliError(`${flag} must be a positive whole number, got '${value}'`);
  return n;
}

const keys = program.command('keys').description('virtual keys');
keys
  .command('create')
  .description('create a key (the secret is printed once)')
  .requiredOption('--team <team>')
  .requiredOption('--project <project>')
  .requiredOption('--env <env>')
  .option('--name <name>')
  .option('--user <user>', 'bind the key to one end user')
  .option('--cost-center <cc>')
  .option('--models <list>', 'comma-separated model allowlist (globs with *)')
  .option('--providers <list>', 'comma-separated provider allowlist (globs with *)')
  .option('--rpm <n>', 'requests per minute for this key')
  .option('--tpm <n>', 'tokens per minute for this key')
  .option('--max-concurrent <n>', 'calls in flight at once for this key')
  .option('--budget-usd <usd>', 'a hard budget for this key alone')
  .option('--budget-window <window>', 'the key budget window, e.g. 1d, 30d or 1mo', '1mo')
  .option('--expires-in <duration>', 'e.g. 30d')
  .action(async (o: Record<string, string | undefined>) => {
    const created = await client().call<Record<string, unknown>>('POST', '/admin/v1/keys', {
      team: o.team,
      project: o.project,
      env: o.env,
      name: o.name,
      user: o.user,
      cost_center: o.costCenter,
      models: o.models ? o.models.split(',').map((m) => m.trim()) : undefined,
      providers: o.providers ? o.providers.split(',').map((m) => m.trim()) : undefined,
      rpm: intOption(o.rpm, '--rpm'),
      tpm: intOption(o.tpm, '--tpm'),
      max_concurrent: intOption(o.maxConcurrent, '--max-concurrent'),
      budget: o.budgetUsd ? { usd: o.budgetUsd, window: o.budgetWindow } : undefined,
      expires_in: o.expiresIn,
    });
    show(created, () => {
      console.log(`created key ${created.id} (${created.team}/${created.project}/${created.env})`);
      console.log(`secret (shown once): ${created.key}`);
    });
  });
keys
  .command('list')
  .option('--team <team>')
  .option('--project <project>')
  .option('--all', 'include revoked keys')
  .action(async (o: { team?: string; project?: string; all?: boolean }) => {
    const q = new URLSearchParams();
    if (o.team) q.set('team', o.team);
    if (o.project) q.set('project', o.project);
    if (o.all) q.set('include_revoked', 'true');
    const r = await client().call<{ data: Array<Record<string, unknown>> }>('GET', `/admin/v1/keys?${q}`);
    show(r, () =>
      printTable(r.data, [
        'id',
        'prefix',
        'name',
        'team',
        'project',
        'env',
        'user',
        'models',
        'expiresAt',
        'revokedAt',
      ]),
    );
  });
keys
  .command('revoke <id>')
  .description('revoke a key (takes effect at once)')
  .action(async (id: string) => {
    const r = await client().call<Record<string, unknown>>(
      'DELETE',
      `/admin/v1/keys/${encodeURIComponent(id)}`,
    );
    show(r, () => console.log(`revoked ${r.id} at ${r.revokedAt}`));
  });
keys
  .command('rotate <id>')
  .description('issue a new secret with the same binding; the old one stops working at once')
  .action(async (id: string) => {
    const r = await client().call<Record<string, unknown>>(
      'POST',
      `/admin/v1/keys/${encodeURIComponent(id)}/rotate`,
    );
    show(r, () => {
      console.log(`rotated ${id} -> ${r.id}`);
      console.log(`secret (shown once): ${r.key}`);
    });
  });

const teams = program.command('teams').description('teams and their projects');
teams.command('list').action(async () => {
  const r = await client().call<{ data: Array<Record<string, unknown>> }>('GET', '/admin/v1/teams');
  show(r, () => printTable(r.data, ['id', 'org', 'name', 'costCenter', 'source']));
});
teams
  .command('create <id>')
  .option('--org <org>')
  .option('--name <name>')
  .option('--cost-center <cc>')
  .action(async (id: string, o: { org?: string; name?: string; costCenter?: string }) => {
    const r = await client().call<Record<string, unknown>>('POST', '/admin/v1/teams', {
      id,
      org: o.org,
      name: o.name,
      cost_center: o.costCenter,
    });
    show(r, () => console.log(`created team ${r.id} in org ${r.org}`));
  });
teams.command('add-project <team> <project>').action(async (team: string, project: string) => {
  const r = await client().call<Record<string, unknown>>('POST', '/admin/v1/projects', { id: project, team });
  show(r, () => console.log(`created project ${r.id} in team ${r.team}`));
});
teams.command('projects [team]').action(async (team?: string) => {
  const r = await client().call<{ data: Array<Record<string, unknown>> }>(
    'GET',
    `/admin/v1/projects${team ? `?team=${encodeURIComponent(team)}` : ''}`,
  );
  show(r, () => printTable(r.data, ['id', 'team', 'name', 'source']));
});

const budgets = program.command('budgets').description('budget policies');
budgets
  .command('status [id]')
  .description('limit, spent, reserved in flight, remaining and window of each budget')
  .action(async (id?: string) => {
    const path = id ? `/admin/v1/budgets/${encodeURIComponent(id)}` : '/admin/v1/budgets';
    const r = await client().call<{ data?: Array<Record<string, unknown>> } & Record<string, unknown>>(
      'GET',
      path,
    );
    const rows = r.data ?? [r];
    show(r, () =>
      printTable(
        rows.map((b) => {
          const m = (k: string) =>
            (b[k] as { usdExact?: string; tokens?: number; requests?: number } | null) ?? {};
          const usd = (k: string) => (m(k).usdExact !== undefined ? `$${m(k).usdExact}` : null);
          return {
            id: b.id,
            mode: b.mode,
            limit:
              usd('limit') ?? (m('limit').tokens ? `${m('limit').tokens} tok` : `${m('limit').requests} req`),
            spent: usd('spent') ?? m('spent').tokens,
            inFlight: usd('reserved') ?? m('reserved').tokens,
            remaining: usd('remaining') ?? m('remaining').tokens ?? m('remaining').requests,
            used: `${Math.round(Number(b.utilization) * 1000) / 10}%`,
            resetsAt: b.resetsAt,
          };
        }),
        ['id', 'mode', 'limit', 'spent', 'inFlight', 'remaining', 'used', 'resetsAt'],
      ),
    );
  });

program
  .command('usage')
  .description('spend and tokens grouped by a dimension')
  .option(
    '--by <dimension>',
    'team | project | env | key | model | user | feature | provider | cost_center',
    'team',
  )
  .option('--window <duration>', 'look back this far, e.g. 1h, 7d, 30d', '30d')
  .option('--from <date>', 'start (ISO date); overrides --window')
  .option('--to <date>', 'end (ISO date)')
  .action(async (o: { by: string; window: string; from?: string; to?: string }) => {
    const q = new URLSearchParams({ by: o.by });
    if (o.from) q.set('from', o.from);
    else q.set('window', o.window);
    if (o.to) q.set('to', o.to);
    const r = await client().call<{ totalUsd: string; data: Array<Record<string, unknown>> }>(
      'GET',
      `/admin/v1/usage?${q}`,
    );
    show(r, () => {
      printTable(
        r.data.map((u) => ({ ...u, [o.by]: u.group, cost: `$${u.costUsd}` })),
        [
          o.by,
          'calls',
          'inputTokens',
          'outputTokens',
          'cacheReadTokens',
          'reasoningTokens',
          'cost',
          'denied',
          'errors',
          'degraded',
          'rerouted',
          'queued',
          'retried',
        ],
      );
      console.log(`total: $${r.totalUsd}`);
    });
  });

registerAlertCommands(program, { client, show, keys });
registerAuditCommands(program, { client, show });
registerExportCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CliError || err instanceof ConfigError || err instanceof StoreLockedError) {
    console.error(`tollgate: ${err.message}`);
  } else {
    console.error('tollgate: unexpected error:', err);
  }
  process.exit(1);
});
