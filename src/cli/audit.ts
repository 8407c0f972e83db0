import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { AuditCheck, AuditReport, CheckItems, CheckName } from '../finops/audit/types.ts';
import type { InsightsReport } from '../finops/insights/insights.ts';
import { type AdminClient, CliError } from './client.ts';
import { printTable } from './table.ts';

/** What the audit commands borrow from main.ts: the admin client and the --json switch. */
export interface AuditCliContext {
  client: () => AdminClient;
  /** Prints `value` as JSON under --json, else runs `table`. */
  show: (value: unknown, table: () => void) => void;
}

/** Exit status of an audit that ran and found problems (1 stays "the command itself failed"). */
export const AUDIT_FAILED_EXIT_CODE = 2;
const ITEMS_SHOWN = 20;

function tolerance(value: string): number {
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || n < 0 || n > 1) {
    throw new InvalidArgumentError('must be a fraction from 0 to 1, e.g. 0.01 for 1%');
  }
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100) throw new InvalidArgumentError('must be from 1 to 100');
  return n;
}

function readExport(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

type AnyItem = CheckItems[CheckName];

/** One line naming what an item is about. */
export function describeItem(item: AnyItem): string {
  switch (item.kind) {
    case 'unknown_key':
      return `key ${item.keyId} does not exist; calls ${item.callIds.join(', ')}`;
    case 'key_rebound':
      return `key ${item.keyId} re-bound (${item.fields.map((f) => `${f.field}: row ${f.row} ≠ key ${f.key}`).join(', ')}); calls ${item.callIds.join(', ')}`;
    case 'unknown_team':
      return `team ${item.team} does not exist; calls ${item.callIds.join(', ')}`;
    case 'team_outside_org':
      return `team ${item.team} belongs to org ${item.teamOrg}, not ${item.org}; calls ${item.callIds.join(', ')}`;
    case 'unknown_project':
      return `project ${item.project} does not exist; calls ${item.callIds.join(', ')}`;
    case 'project_outside_team':
      return `project ${item.project} belongs to team ${item.projectTeam}, not ${item.team}; calls ${item.callIds.join(', ')}`;
    case 'unknown_env':
      return `env ${item.env} is not configured; calls ${item.callIds.join(', ')}`;
    case 'cap_exceeded':
      return `${item.policyId}: ${item.unit} ${item.spent} > cap ${item.limit} in ${item.windowStart} .. ${item.windowEnd} (call ${item.callId} #${item.attempt})`;
    case 'counter_mismatch':
      return `${item.policyId}: counter $${item.counter.usd} / ${item.counter.tokens} tok / ${item.counter.requests} req, ledger $${item.ledger.usd} / ${item.ledger.tokens} tok / ${item.ledger.requests} req`;
    case 'expired_lease':
      return `call ${item.callId} #${item.attempt} pending past its lease (${item.leaseUntil ?? 'no lease'}), reserved $${item.reserved.usd}`;
    case 'open_reservations_mismatch':
      return `${item.openReservations} open reservations in the counters, ${item.pendingRows} pending rows (${item.pendingCallIds.join(', ') || 'none'})`;
    case 'estimated_usage':
      return `call ${item.callId} #${item.attempt} ${item.status}, usage ${item.usageSource}${item.flags ? ` [${item.flags}]` : ''}, $${item.cost.usd}`;
    case 'usage_mismatch':
      return `${item.model} on ${item.day}: ${item.metric} provider ${item.provider}, ledger ${item.ledger} (${Math.round(item.relativeDifference * 10_000) / 100}%)`;
    case 'layer':
      return `${item.layer}: ${item.ok ? 'ok' : 'FAIL'} — ${item.reason}`;
  }
}

function printCheck(check: AuditCheck): void {
  const status = check.skipped ? 'SKIP' : check.ok ? 'PASS' : 'FAIL';
  console.log(`${status}  ${check.name}: ${check.summary}`);
  for (const item of check.items.slice(0, ITEMS_SHOWN)) console.log(`        - ${describeItem(item)}`);
  if (check.items.length > ITEMS_SHOWN) {
    console.log(`        … and ${check.items.length - ITEMS_SHOWN} more (--json lists all)`);
  }
}

function printInsights(r: InsightsReport & { window: string }): void {
  console.log(
    `cost insights, last ${r.window} (${r.from} .. ${r.to}): ${r.totals.calls} calls, $${r.totals.cost.usd}`,
  );
  console.log(r.note);
  const usd = (m: { usd: string } | null) => (m === null ? null : `$${m.usd}`);
  const pct = (n: number | null) => (n === null ? null : `${Math.round(n * 10_000) / 100}%`);
  console.log('\nmost expensive calls:');
  printTable(
    r.topCalls.map((c) => ({ ...c, cost: usd(c.cost), tokens: `${c.inputTokens}/${c.outputTokens}` })),
    ['cost', 'callId', 'requestId', 'feature', 'team', 'model', 'tokens', 'attempts', 'at'],
  );
  console.log('\nmost expensive features:');
  printTable(
    r.topFeatures.map((f) => ({ ...f, cost: usd(f.cost), share: pct(f.spendShare) })),
    ['feature', 'cost', 'share', 'calls'],
  );
  console.log('\nretry and agent loops:');
  printTable(
    r.retryLoops.map((l) => ({
      ...l,
      id: l.requestId ?? l.callId,
      cost: usd(l.cost),
      reasons: l.reasons.join(','),
    })),
    ['id', 'calls', 'attempts', 'failures', 'maxAttempt', 'cost', 'reasons'],
  );
  console.log('\nmodel mix:');
  printTable(
    r.modelMix.map((m) => ({
      ...m,
      cost: usd(m.cost),
      spend: pct(m.spendShare),
      callsShare: pct(m.callShare),
    })),
    ['model', 'cost', 'spend', 'calls', 'callsShare'],
  );
  console.log('\nforecast to the end of each budget window:');
  printTable(
    r.forecasts.map((f) => ({
      ...f,
      spent: usd(f.spent),
      limit: usd(f.limit),
      forecast: usd(f.forecast),
      ofLimit: pct(f.forecastUtilization),
    })),
    ['policyId', 'spent', 'forecast', 'limit', 'ofLimit', 'windowEnd', 'exhaustsAt'],
  );
}

/** `tollgate audit` and `tollgate insights`. */
export function registerAuditCommands(program: Command, ctx: AuditCliContext): void {
  const { client, show } = ctx;
  program
    .command('audit')
    .description(
      'prove the ledger: attribution, caps held, counters = ledger, no orphaned reservations, estimated rows, provider reconciliation; exits 2 when a check fails',
    )
    .option('--from <date>', 'start, ISO date/time (default: 30 days before --to)')
    .option('--to <date>', 'end, exclusive, ISO date/time (default: now)')
    .option(
      '--provider-usage <file>',
      "the provider's usage or cost export (OpenAI / Anthropic admin API JSON)",
    )
    .option('--provider <ids>', 'comma-separated provider ids the export covers (default: all of its kind)')
    .option('--tolerance <fraction>', 'allowed relative difference against the export', tolerance, 0.01)
    .action(
      async (o: {
        from?: string;
        to?: string;
        providerUsage?: string;
        provider?: string;
        tolerance: number;
      }) => {
        const report = await client().call<AuditReport>('POST', '/admin/v1/audit', {
          from: o.from,
          to: o.to,
          tolerance: o.tolerance,
          providerUsage: o.providerUsage === undefined ? undefined : readExport(o.providerUsage),
          provider: o.provider?.split(',').map((p) => p.trim()),
        });
        show(report, () => {
          console.log(`audit ${report.from} .. ${report.to}: ${report.ok ? 'PASS' : 'FAIL'}`);
          for (const check of report.checks) printCheck(check);
        });
        if (!report.ok) process.exitCode = AUDIT_FAILED_EXIT_CODE;
      },
    );

  program
    .command('insights')
    .description('most expensive calls and features, retry loops, model mix, budget forecasts')
    .option('--window <duration>', 'look back this far, e.g. 1h, 7d, 30d', '7d')
    .option('--limit <n>', 'length of the top lists (1-100)', positive)
    .action(async (o: { window: string; limit?: number }) => {
      const q = new URLSearchParams({ window: o.window });
      if (o.limit !== undefined) q.set('limit', String(o.limit));
      const r = await client().call<InsightsReport & { window: string }>('GET', `/admin/v1/insights?${q}`);
      show(r, () => printInsights(r));
    });
}
