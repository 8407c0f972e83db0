import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../../ledger/types.ts';
import { callRow } from '../testRows.ts';
import { decimalToNanos } from './decimal.ts';
import { modelKey, parseProviderExport } from './providerExport.ts';
import { reconcile } from './reconcile.ts';

const JAN15 = Date.UTC(2026, 0, 15);
const JAN16 = Date.UTC(2026, 0, 16);
const secs = (ms: number) => ms / 1000;

const rows: CallRecord[] = [
  callRow({
    callId: 'a',
    tsStart: JAN15 + 1000,
    modelUsed: 'gpt-4.1',
    inputTokens: 100,
    cacheReadTokens: 20,
    outputTokens: 50,
    cost: 1_000,
  }),
  callRow({
    callId: 'b',
    tsStart: JAN15 + 2000,
    modelUsed: 'gpt-4.1',
    inputTokens: 10,
    outputTokens: 5,
    cost: 300,
  }),
  callRow({
    callId: 'c',
    tsStart: JAN15 + 3000,
    modelUsed: 'mini',
    inputTokens: 7,
    outputTokens: 3,
    cost: 11,
  }),
  callRow({
    callId: 'd',
    tsStart: JAN16 + 3000,
    modelUsed: 'mini',
    inputTokens: 1,
    outputTokens: 2,
    cost: 5,
  }),
];
const upstream = (r: CallRecord) => (r.modelUsed === 'mini' ? 'gpt-4.1-mini' : r.modelUsed);

function openAiUsage(jan15Gpt41Input = 130) {
  return {
    object: 'page',
    data: [
      {
        object: 'bucket',
        start_time: secs(JAN15),
        end_time: secs(JAN16),
        results: [
          {
            object: 'organization.usage.completions.result',
            input_tokens: jan15Gpt41Input,
            input_cached_tokens: 20,
            output_tokens: 55,
            num_model_requests: 2,
            model: 'gpt-4.1-2025-04-14',
            project_id: null,
          },
          {
            object: 'organization.usage.completions.result',
            input_tokens: 7,
            input_cached_tokens: 0,
            output_tokens: 3,
            num_model_requests: 1,
            model: 'gpt-4.1-mini-2025-04-14',
          },
        ],
      },
      {
        object: 'bucket',
        start_time: secs(JAN16),
        end_time: secs(JAN16) + 86_400,
        results: [{ input_tokens: 1, output_tokens: 2, num_model_requests: 1, model: 'gpt-4.1-mini' }],
      },
    ],
    has_more: false,
  };
}

function run(exportJson: unknown, tolerance = 0.01, extraRows: CallRecord[] = []) {
  const parsed = parseProviderExport(exportJson);
  if (!parsed.ok) throw new Error(parsed.message);
  return reconcile({
    export: parsed.value,
    rows: [...rows, ...extraRows],
    upstreamModelOf: upstream,
    fromDay: '2026-01-01',
    toDay: '2026-01-31',
    tolerance,
  });
}

describe('provider reconciliation', () => {
  it('agrees with an OpenAI usage export that matches the ledger (dated snapshot names)', () => {
    const check = run(openAiUsage());
    expect(check.items).toEqual([]);
    expect(check.summary).toBe(
      'openai export: 3 day × model cells over 2 days agree with the ledger within 1%',
    );
  });

  it('names the model, day and metric of a disagreement beyond the tolerance', () => {
    const check = run(openAiUsage(143));
    expect(check.ok).toBe(false);
    expect(check.items).toEqual([
      {
        kind: 'usage_mismatch',
        day: '2026-01-15',
        model: 'gpt-4.1-2025-04-14',
        metric: 'input_tokens',
        provider: 143,
        ledger: 130,
        relativeDifference: 0.090909,
      },
    ]);
    expect(run(openAiUsage(143), 0.1).ok).toBe(true);
  });

  it('flags ledger usage the export does not show', () => {
    const extra = callRow({
      callId: 'ghost',
      tsStart: JAN15 + 5000,
      modelUsed: 'o3',
      inputTokens: 9,
      outputTokens: 1,
    });
    const check = run(openAiUsage(), 0.01, [extra]);
    // Every metric the export reports, except cache reads the ledger has none of either.
    expect(check.items.map((i) => [i.day, i.model, i.metric, i.provider, i.ledger])).toEqual([
      ['2026-01-15', 'o3', 'input_tokens', 0, 9],
      ['2026-01-15', 'o3', 'output_tokens', 0, 1],
      ['2026-01-15', 'o3', 'requests', 0, 1],
    ]);
  });

  it('reads an Anthropic usage report and cost report (amounts in cents) together', () => {
    const claude = (r: Partial<CallRecord>) =>
      callRow({ provider: 'anthropic', modelUsed: 'claude-sonnet-4-20250514', ...r });
    const claudeRows = [
      claude({
        callId: 'x',
        tsStart: JAN15 + 1,
        inputTokens: 100,
        cacheReadTokens: 10,
        cacheWriteTokens: 30,
        outputTokens: 40,
        cost: 123_456_789,
      }),
      claude({ callId: 'y', tsStart: JAN15 + 2, inputTokens: 5, outputTokens: 6, cost: 1 }),
    ];
    const usage = {
      data: [
        {
          starting_at: '2026-01-15T00:00:00Z',
          ending_at: '2026-01-16T00:00:00Z',
          results: [
            {
              uncached_input_tokens: 105,
              cache_read_input_tokens: 10,
              cache_creation: { ephemeral_5m_input_tokens: 20, ephemeral_1h_input_tokens: 10 },
              output_tokens: 46,
              server_tool_use: { web_search_requests: 0 },
              model: 'claude-sonnet-4-20250514',
              service_tier: 'standard',
            },
          ],
        },
      ],
      has_more: false,
      next_page: null,
    };
    const costs = {
      data: [
        {
          starting_at: '2026-01-15T00:00:00Z',
          ending_at: '2026-01-16T00:00:00Z',
          results: [
            { currency: 'USD', amount: '12.345679', model: 'claude-sonnet-4-20250514', cost_type: 'tokens' },
          ],
        },
      ],
    };
    const parsed = parseProviderExport([usage, costs]);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.value.vendor).toBe('anthropic');
    const check = (exp: typeof parsed.value) =>
      reconcile({
        export: exp,
        rows: claudeRows,
        upstreamModelOf: (r) => r.modelUsed,
        fromDay: '2026-01-15',
        toDay: '2026-01-15',
        tolerance: 0,
      });
    // $0.12345679 = 12.345679 cents, to the nano; cache writes are the 5m + 1h creations.
    expect(check(parsed.value).items).toEqual([]);
    const costlier = parseProviderExport([
      usage,
      {
        data: [
          {
            ...costs.data[0],
            results: [{ currency: 'USD', amount: '13.5802469', model: 'claude-sonnet-4-20250514' }],
          },
        ],
      },
    ]);
    if (!costlier.ok) throw new Error(costlier.message);
    expect(check(costlier.value).items).toEqual([
      {
        kind: 'usage_mismatch',
        day: '2026-01-15',
        model: 'claude-sonnet-4-20250514',
        metric: 'cost_usd',
        provider: '0.135802469',
        ledger: '0.12345679',
        relativeDifference: 0.090909,
      },
    ]);
  });

  it('compares an export that is not grouped by model with the whole day', () => {
    const check = run({
      object: 'page',
      data: [
        {
          start_time: secs(JAN15),
          results: [
            {
              object: 'organization.costs.result',
              amount: { value: 0.000001311, currency: 'usd' },
              line_item: null,
            },
          ],
        },
      ],
    });
    expect(check.ok).toBe(true);
  });

  it('refuses what is not a usage export, or mixes vendors', () => {
    expect(parseProviderExport({ foo: 1 })).toEqual({
      ok: false,
      message: 'page 0: expected an object with a "data" array of time buckets',
    });
    expect(parseProviderExport({ data: [{ results: [] }] })).toMatchObject({ ok: false });
    expect(
      parseProviderExport([
        { data: [{ start_time: 0, results: [] }] },
        { data: [{ starting_at: '2026-01-01T00:00:00Z', results: [] }] },
      ]),
    ).toMatchObject({
      ok: false,
      message: 'page 1 bucket 0: OpenAI and Anthropic exports cannot be mixed in one file',
    });
    expect(
      parseProviderExport({
        data: [{ start_time: 0, results: [{ amount: { value: 1, currency: 'eur' } }] }],
      }),
    ).toMatchObject({ ok: false });
  });
});

describe('decimalToNanos / modelKey', () => {
  it('scales decimals exactly and rounds half away from zero', () => {
    expect(decimalToNanos('12.345679', 7)).toBe(123_456_790);
    expect(decimalToNanos(0.06, 9)).toBe(60_000_000);
    expect(decimalToNanos(1e-7, 9)).toBe(100);
    expect(decimalToNanos('0.0000000015', 9)).toBe(2);
    expect(decimalToNanos('-0.0000000015', 9)).toBe(-2);
    expect(decimalToNanos('abc', 9)).toBeNull();
    expect(decimalToNanos(Number.NaN, 9)).toBeNull();
  });
  it('drops snapshot dates from model names', () => {
    expect(modelKey('gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini');
    expect(modelKey('claude-sonnet-4-20250514')).toBe('claude-sonnet-4');
    expect(modelKey('gpt-4.1')).toBe('gpt-4.1');
  });
});
