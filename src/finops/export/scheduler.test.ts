import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../ledger/types.ts';
import { finopsSchema } from './config.ts';
import { DAY_MS } from './range.ts';
import { dueDay, dueWeek, ExportScheduler, nextRunAt } from './scheduler.ts';
import { noPrices } from './split.ts';
import { call, NOON } from './testCalls.ts';

const AT_0015 = 15 * 60_000;
const SUN_22 = Date.UTC(2026, 10, 22);
const MON_23 = Date.UTC(2026, 10, 23);

describe('what is due', () => {
  it('exports yesterday once daily_at has passed, the day before until then', () => {
    expect(dueDay(MON_23 + AT_0015, AT_0015)).toBe(SUN_22);
    expect(dueDay(MON_23 + AT_0015 - 1, AT_0015)).toBe(SUN_22 - DAY_MS);
    expect(nextRunAt(MON_23 + 60_000, AT_0015)).toBe(MON_23 + AT_0015);
    expect(nextRunAt(MON_23 + AT_0015, AT_0015)).toBe(MON_23 + DAY_MS + AT_0015);
  });

  it('summarizes the previous ISO week from Monday daily_at on', () => {
    expect(dueWeek(MON_23 + AT_0015, AT_0015)).toBe(Date.UTC(2026, 10, 16));
    expect(dueWeek(MON_23 + AT_0015 - 1, AT_0015)).toBe(Date.UTC(2026, 10, 9));
    expect(dueWeek(Date.UTC(2026, 10, 27), AT_0015)).toBe(Date.UTC(2026, 10, 16));
  });
});

describe('ExportScheduler', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function scheduler(rows: CallRecord[], settings: Record<string, unknown>) {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-export-'));
    dirs.push(dir);
    const s = new ExportScheduler({
      settings: finopsSchema.parse({ export_dir: dir, ...settings }),
      calls: (range) => rows.filter((r) => r.tsStart >= range.fromMs && r.tsStart < range.toMs),
      prices: noPrices,
      clock: () => MON_23 + AT_0015,
    });
    return { s, dir };
  }

  it('writes the day and the week once, then skips them', async () => {
    const rows = [
      call({ inputTokens: 10, outputTokens: 5, cost: 1234 }),
      call({ team: 'support', costCenter: 'CC-2', inputTokens: 1, outputTokens: 1, cost: 10 }),
      call({ tsStart: NOON - 3 * DAY_MS, inputTokens: 2, outputTokens: 2, cost: 100 }),
    ];
    const { s, dir } = scheduler(rows, { formats: ['csv', 'parquet', 'focus', 'focus-parquet'] });
    const first = await s.runDue(MON_23 + AT_0015);
    expect(first).toEqual({
      day: '2026-11-22',
      week: '2026-W47',
      written: [
        'allocation-2026-11-22.csv',
        'allocation-2026-11-22.parquet',
        'focus-2026-11-22.csv',
        'focus-2026-11-22.parquet',
        'summary-2026-W47.csv',
      ],
      skipped: [],
    });
    expect(readdirSync(dir).sort()).toEqual([...first.written].sort());
    const summary = parse(readFileSync(join(dir, 'summary-2026-W47.csv')), { columns: true });
    expect(summary).toEqual([
      expect.objectContaining({
        cost_center: 'CC-1',
        team: 'search',
        cost_nanos: '1334',
        calls: '2',
        tokens: '19',
      }),
      expect.objectContaining({ cost_center: 'CC-2', team: 'support', usd: '0.00000001', calls: '1' }),
    ]);
    const again = await s.runDue(MON_23 + AT_0015 + 60_000);
    expect(again.written).toEqual([]);
    expect(again.skipped).toHaveLength(5);
    await s.close();
  });

  it('does nothing without export_dir, and honours weekly_summary: false', async () => {
    const off = new ExportScheduler({
      settings: finopsSchema.parse({}),
      calls: () => [],
      prices: noPrices,
      clock: () => MON_23,
    });
    expect(await off.runDue(MON_23 + DAY_MS)).toEqual({ day: null, week: null, written: [], skipped: [] });
    const { s } = scheduler([], { weekly_summary: false, formats: ['csv'] });
    expect((await s.runDue(MON_23 + AT_0015)).written).toEqual(['allocation-2026-11-22.csv']);
  });

  it('rejects a bad daily_at and unknown formats in config', () => {
    expect(finopsSchema.safeParse({ daily_at: '24:00' }).success).toBe(false);
    expect(finopsSchema.safeParse({ formats: ['xlsx'] }).success).toBe(false);
    expect(finopsSchema.parse({})).toEqual({
      export_dir: null,
      daily_at: '00:15',
      formats: ['csv', 'parquet', 'focus'],
      weekly_summary: true,
    });
  });
});
