import { type Command, InvalidArgumentError } from 'commander';
import type { AdminClient } from './client.ts';
import { printTable } from './table.ts';

/** What the alert commands borrow from main.ts: the admin client, the --json switch, the `keys` group. */
export interface AlertCliContext {
  client: () => AdminClient;
  /** Prints `value` as JSON under --json, else runs `table`. */
  show: (value: unknown, table: () => void) => void;
  keys: Command;
}

interface AlertEventRow {
  id: string;
  policyId: string;
  mode: string;
  threshold: number;
  reason: string;
  spentUsd: string;
  limitUsd: string | null;
  windowLabel: string;
  at: string;
}

interface DeliveryRow {
  eventId: string;
  targetId: string;
  attempt: number;
  ts: number;
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
}

interface RunawayView {
  suspensions: Array<{
    keyId: string;
    kind: string;
    feature: string | null;
    reason: string;
    since: string;
    until: string;
  }>;
  recent: Array<{
    id: string;
    at: string;
    keyId: string;
    kind: string;
    action: string;
    feature: string | null;
    suspendedUntil: string | null;
    reason: string;
  }>;
  stats: Record<string, number>;
}

function limitArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new InvalidArgumentError('must be from 1 to 1000');
  return n;
}

/** 0.8 -> "80%"; rounded to 0.01% to hide binary-fraction noise. */
function percent(fraction: number): string {
  return `${Math.round(fraction * 10_000) / 100}%`;
}

function pathWith(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** `tollgate alerts list|deliveries`, `tollgate runaway`, `tollgate keys resume|rebaseline <id>`. */
export function registerAlertCommands(program: Command, ctx: AlertCliContext): void {
  const { client, show, keys } = ctx;
  const alerts = program.command('alerts').description('budget alerts and their webhook deliveries');

  alerts
    .command('list')
    .description('budget threshold alerts, newest first')
    .option('--policy <id>', 'only this budget policy')
    .option('--limit <n>', 'at most this many (1-1000)', limitArg)
    .action(async (o: { policy?: string; limit?: number }) => {
      const r = await client().call<{ data: AlertEventRow[] }>(
        'GET',
        pathWith('/admin/v1/alerts', { policy: o.policy, limit: o.limit }),
      );
      show(r, () =>
        printTable(
          r.data.map((e) => ({
            ...e,
            threshold: percent(e.threshold),
            spent: `$${e.spentUsd}`,
            limit: e.limitUsd === null ? null : `$${e.limitUsd}`,
            window: e.windowLabel,
          })),
          ['at', 'policyId', 'mode', 'threshold', 'reason', 'spent', 'limit', 'window', 'id'],
        ),
      );
    });

  alerts
    .command('deliveries')
    .description('webhook delivery attempts, newest first')
    .option('--event <id>', 'only this alert event')
    .option('--limit <n>', 'at most this many (1-1000)', limitArg)
    .action(async (o: { event?: string; limit?: number }) => {
      const r = await client().call<{ data: DeliveryRow[] }>(
        'GET',
        pathWith('/admin/v1/alerts/deliveries', { event: o.event, limit: o.limit }),
      );
      show(r, () =>
        printTable(
          r.data.map((d) => ({ ...d, at: new Date(d.ts).toISOString(), ok: d.ok ? 'yes' : 'no' })),
          ['at', 'eventId', 'targetId', 'attempt', 'ok', 'httpStatus', 'error'],
        ),
      );
    });

  program
    .command('runaway')
    .description('keys suspended by runaway detection, and recent runaway trips')
    .option('--limit <n>', 'at most this many recent trips (1-1000)', limitArg)
    .action(async (o: { limit?: number }) => {
      const r = await client().call<RunawayView>('GET', pathWith('/admin/v1/runaway', { limit: o.limit }));
      show(r, () => {
        console.log('suspended keys:');
        printTable(r.suspensions, ['keyId', 'kind', 'feature', 'since', 'until', 'reason']);
        console.log('');
        console.log('recent trips:');
        printTable(r.recent, ['at', 'keyId', 'kind', 'action', 'feature', 'suspendedUntil', 'reason']);
        console.log('');
        console.log(
          Object.entries(r.stats)
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
        );
      });
    });

  keys
    .command('resume <id>')
    .description('lift a runaway suspension of the key now')
    .action(async (id: string) => {
      const r = await client().call<{ id: string; resumed: boolean }>(
        'POST',
        `/admin/v1/keys/${encodeURIComponent(id)}/resume`,
      );
      show(r, () => console.log(r.resumed ? `resumed ${r.id}` : `${r.id} was not suspended`));
    });

  keys
    .command('rebaseline <id>')
    .description("take the key's current spend rate as its new normal for runaway detection")
    .action(async (id: string) => {
      const r = await client().call<{ id: string; rebaselined: number }>(
        'POST',
        `/admin/v1/keys/${encodeURIComponent(id)}/rebaseline`,
      );
      show(r, () => console.log(`rebaselined ${r.rebaselined} spend tracker(s) of ${r.id}`));
    });
}
