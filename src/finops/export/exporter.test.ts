import { parse } from 'csv-parse/sync';
import { parquetReadObjects } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { costNanos } from '../../pricing/cost.ts';
import { buildAllocation } from './allocation.ts';
import { formatScaled } from './encode.ts';
import { buildExport } from './exporter.ts';
import { noPrices, type PriceLookup } from './split.ts';
import { call, MINI_PRICES, NOON } from './testCalls.ts';

const mini: PriceLookup = (model) => (model === 'gpt-4.1-mini' ? MINI_PRICES : undefined);
const priced = (u: { inputTokens: number; outputTokens: number; cacheReadTokens?: number }) => ({
  inputTokens: u.inputTokens,
  outputTokens: u.outputTokens,
  cacheReadTokens: u.cacheReadTokens ?? 0,
  cost: costNanos({ cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, ...u }, MINI_PRICES),
});

const rows = [
  call({ requestId: 'req-a', feature: 'search', ...priced({ inputTokens: 100, outputTokens: 10 }) }),
  call({ requestId: 'req-a', feature: 'rerank', ...priced({ inputTokens: 50, outputTokens: 5 }) }),
  call({ requestId: null, ...priced({ inputTokens: 7, outputTokens: 3, cacheReadTokens: 4 }) }),
  call({
    team: 'support',
    project: 'bot',
    costCenter: 'CC-2',
    ...priced({ inputTokens: 9, outputTokens: 9 }),
  }),
  call({ status: 'denied', httpStatus: 429, requestId: 'req-denied' }),
  call({ status: 'pending', ...priced({ inputTokens: 1, outputTokens: 1 }) }),
  call({ tsStart: NOON + 86_400_000, requestId: 'req-a', ...priced({ inputTokens: 1, outputTokens: 1 }) }),
];
const billed = rows.filter((r) => r.status !== 'denied' && r.status !== 'pending');
const ledgerNanos = billed.reduce((s, r) => s + r.cost, 0);

function csv(body: Buffer): Array<Record<string, string>> {
  return parse(body, { columns: true }) as Array<Record<string, string>>;
}

async function parquet(body: Buffer): Promise<Array<Record<string, unknown>>> {
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file });
}

describe('allocation table', () => {
  it('one row per request id per day; a call without one is its own request; $0 and pending rows left out', async () => {
    const table = await buildAllocation(rows, { by: 'request' });
    expect(table.map((r) => [r.team, r.requestId, r.calls, r.feature, r.cost])).toEqual([
      ['search', rows[2]?.callId, 1, null, rows[2]?.cost],
      ['search', 'req-a', 2, 'rerank,search', (rows[0]?.cost ?? 0) + (rows[1]?.cost ?? 0)],
      ['support', rows[3]?.callId, 1, null, rows[3]?.cost],
      ['search', 'req-a', 1, null, rows[6]?.cost],
    ]);
  });

  it('can list unbilled rows on demand', async () => {
    const table = await buildAllocation(rows, { by: 'call', includeUnbilled: true });
    expect(table.map((r) => [r.callId, r.status])).toEqual(
      [rows[2], rows[4], rows[1], rows[0], rows[3], rows[6]].map((r) => [r?.callId, r?.status]),
    );
  });

  it('CSV and Parquet carry the same rows and exact totals', async () => {
    const c = await buildExport({ format: 'csv', by: 'call', calls: rows, prices: noPrices });
    const read = csv(c.body);
    expect(read).toHaveLength(billed.length);
    expect(Object.keys(read[0] ?? {})).toEqual([
      'date',
      'org',
      'team',
      'cost_center',
      'project',
      'env',
      'feature',
      'model',
      'provider',
      'request_id',
      'call_id',
      'attempt',
      'ts_start',
      'status',
      'input_tokens',
      'output_tokens',
      'tool_call_tokens',
      'cache_read_tokens',
      'cache_write_tokens',
      'reasoning_tokens',
      'usd',
      'cost_nanos',
      'calls',
    ]);
    expect(read.reduce((s, r) => s + Number(r.cost_nanos), 0)).toBe(ledgerNanos);
    expect(read.map((r) => r.usd)).toEqual(read.map((r) => formatScaled(BigInt(r.cost_nanos ?? ''), 9)));
    expect(read[0]?.date).toBe('2026-11-22');
    expect(read[0]?.ts_start).toBe('2026-11-22T12:00:00Z');
    expect(c.totalNanos).toBe(ledgerNanos);

    const p = await parquet(
      (await buildExport({ format: 'parquet', by: 'call', calls: rows, prices: noPrices })).body,
    );
    expect(p).toHaveLength(billed.length);
    expect(p.reduce((s, r) => s + Math.round(Number(r.usd) * 1e9), 0)).toBe(ledgerNanos);
    expect(p.reduce((s, r) => s + Number(r.cost_nanos), 0)).toBe(ledgerNanos);
    expect(p[0]?.date).toEqual(new Date(Date.UTC(2026, 10, 22)));
    expect(p[0]?.ts_start).toEqual(new Date(NOON));
    expect(p[0]?.input_tokens).toBe(7n);
    expect(p[0]?.cache_read_tokens).toBe(4n);
    expect(p[0]?.feature).toBeNull();
    expect(p[1]?.feature).toBe('rerank');
  });

  it('an empty range still writes typed, header-only files', async () => {
    const c = await buildExport({ format: 'csv', by: 'request', calls: [], prices: noPrices });
    expect(c.body.toString()).toBe(
      'date,org,team,cost_center,project,env,feature,model,provider,request_id,input_tokens,output_tokens,tool_call_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,usd,cost_nanos,calls\n',
    );
    const p = await buildExport({ format: 'focus-parquet', by: 'day', calls: [], prices: noPrices });
    expect(await parquet(p.body)).toEqual([]);
  });
});

describe('FOCUS 1.3', () => {
  it('per-kind lines sum to the ledger, to the nano and to the token', async () => {
    const f = await buildExport({ format: 'focus', by: 'day', calls: rows, prices: mini });
    const read = csv(f.body);
    expect(read.reduce((s, r) => s + Number(r.x_CostNanos), 0)).toBe(ledgerNanos);
    const tokens = (meter: string) =>
      read.filter((r) => r.SkuMeter === meter).reduce((s, r) => s + Number(r.ConsumedQuantity), 0);
    expect(tokens('Input Tokens')).toBe(billed.reduce((s, r) => s + r.inputTokens, 0));
    expect(tokens('Output Tokens')).toBe(billed.reduce((s, r) => s + r.outputTokens, 0));
    expect(tokens('Cache Read Tokens')).toBe(4);
    const first = read[0] ?? {};
    expect(first).toMatchObject({
      BillingCurrency: 'USD',
      ChargeCategory: 'Usage',
      ChargeClass: '',
      ChargeFrequency: 'Usage-Based',
      BillingPeriodStart: '2026-11-01T00:00:00Z',
      BillingPeriodEnd: '2026-12-01T00:00:00Z',
      ChargePeriodStart: '2026-11-22T00:00:00Z',
      ChargePeriodEnd: '2026-11-23T00:00:00Z',
      ServiceCategory: 'AI and Machine Learning',
      SkuMeter: 'Input Tokens',
      SkuPriceId: 'openai/gpt-4.1-mini/input',
      ListUnitPrice: '0.0000004',
      PricingUnit: 'Tokens',
      ConsumedUnit: 'Tokens',
      x_Feature: '',
    });
    expect(JSON.parse(first.Tags ?? '')).toEqual({
      team: 'search',
      project: 'ranker',
      env: 'prod',
      cost_center: 'CC-1',
    });
    for (const r of read) {
      expect(r.BilledCost).toBe(r.EffectiveCost);
      expect(r.BilledCost).toBe(r.ListCost);
      expect(r.BilledCost).toBe(formatScaled(BigInt(r.x_CostNanos ?? ''), 9));
    }
  });

  it('by call: hourly charge periods with the call id and attempt', async () => {
    const f = await buildExport({ format: 'focus-parquet', by: 'call', calls: rows, prices: mini });
    const read = await parquet(f.body);
    const line = read.find((r) => r.x_CallId === rows[0]?.callId && r.SkuMeter === 'Output Tokens');
    expect(line).toMatchObject({
      ChargePeriodStart: new Date(NOON),
      ChargePeriodEnd: new Date(NOON + 3_600_000),
      ConsumedQuantity: 10,
      x_Attempt: 1n,
      x_RequestId: 'req-a',
    });
    expect(typeof line?.BilledCost).toBe('number');
    expect(read.reduce((s, r) => s + Math.round(Number(r.BilledCost) * 1e9), 0)).toBe(ledgerNanos);
  });
});
