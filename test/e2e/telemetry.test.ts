import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InMemoryMetricExporter,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { MOCK_ANTHROPIC_API_KEY } from '../../src/mock/anthropic/index.ts';
import { formatUsd } from '../../src/money.ts';
import { OPERATION_DURATION_BUCKETS, TOKEN_USAGE_BUCKETS } from '../../src/telemetry/genai.ts';
import { type Harness, startHarness, TEST_MODELS } from '../helpers/harness.ts';
import { errorCode, postChat } from '../helpers/post.ts';

/**
 * Telemetry through the real gateway: a CLIENT span per upstream attempt with the GenAI
 * attributes equal to the ledger row, parented on the client's traceparent and propagated to the
 * provider; GenAI OTel metrics; Prometheus /metrics whose spend equals the ledger to the nano;
 * one access log line per ledger row, without keys or prompts unless the project opted in.
 */

const SONNET = 'claude-sonnet-4-20250514';
const EMBEDDING = 'text-embedding-3-small';
const SEARCH_PROMPT = 'SEARCH-PROMPT-never-logged';
const OPTIN_PROMPT = `OPTIN-PROMPT ${'x'.repeat(400)}`;
const MAX_PROMPT_BYTES = 128;

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const metricReader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });

let h: Harness;
const keys = {
  search: { id: '', secret: '' },
  bot: { id: '', secret: '' },
  botDev: { id: '', secret: '' },
};
const refusedKey = `tg_${randomBytes(16).toString('hex')}`;

beforeAll(async () => {
  h = await startHarness({
    logger,
    telemetryExporters: { spanExporter: spans, metricReader },
    config: (mockUrl) => ({
      providers: {
        mock: {
          kind: 'openai',
          base_url: `${mockUrl}/v1`,
          api_key: 'upstream-secret',
          forward_headers: ['x-mock-*'],
        },
        anthropic: {
          kind: 'anthropic',
          base_url: mockUrl,
          api_key: MOCK_ANTHROPIC_API_KEY,
          forward_headers: ['x-mock-*'],
        },
      },
      models: [
        ...TEST_MODELS,
        { id: EMBEDDING, provider: 'mock', prices: { output: 0 } },
        { id: SONNET, provider: 'anthropic', max_output_tokens: 64000 },
      ],
      budgets: [
        {
          id: 'bot-dev-tiny',
          match: { team: 'support', env: 'dev' },
          limit: { usd: 0.000001 },
          clamp: false,
        },
      ],
      telemetry: { logs: { prompts: { projects: ['bot'], max_bytes: MAX_PROMPT_BYTES } } },
    }),
  });
  keys.search = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  keys.bot = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
  keys.botDev = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
});
afterAll(async () => {
  await h.close();
  await metricReader.shutdown();
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const callIdOf = (r: { headers: Headers }) => r.headers.get('x-tollgate-call-id') ?? '';

function spansOf(callId: string): ReadableSpan[] {
  return spans
    .getFinishedSpans()
    .filter((s) => s.attributes['tollgate.call_id'] === callId)
    .sort((a, b) => Number(a.attributes['tollgate.attempt']) - Number(b.attributes['tollgate.attempt']));
}

async function rows(callId: string): Promise<CallRecord[]> {
  await h.gateway.services.ledger.flush();
  const all = await h.gateway.services.store.ledger.queryCalls({ limit: 10_000 });
  return all.filter((r) => r.callId === callId).sort((a, b) => a.attempt - b.attempt);
}

async function allRows(): Promise<CallRecord[]> {
  await h.gateway.services.ledger.flush();
  return h.gateway.services.store.ledger.queryCalls({ limit: 10_000 });
}

/** The upstream request carrying this span's traceparent. */
function upstreamRequestOf(span: ReadableSpan) {
  const { traceId, spanId } = span.spanContext();
  return h.mock.received.find((r) => r.headers.traceparent === `00-${traceId}-${spanId}-01`);
}

/** The GenAI + tollgate attributes a settled attempt's span must carry, from its ledger row. */
function expectSpanMatchesRow(span: ReadableSpan, row: CallRecord, op: string, provider: string) {
  expect(span.name).toBe(`${op} ${row.modelUsed}`);
  expect(span.kind).toBe(SpanKind.CLIENT);
  expect(span.attributes).toMatchObject({
    'gen_ai.operation.name': op,
    'gen_ai.provider.name': provider,
    'gen_ai.request.model': row.modelUsed,
    'gen_ai.response.model': row.modelUsed,
    'gen_ai.usage.input_tokens': row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens,
    'gen_ai.usage.output_tokens': row.outputTokens,
    'gen_ai.usage.cache_read.input_tokens': row.cacheReadTokens,
    'gen_ai.usage.cache_creation.input_tokens': row.cacheWriteTokens,
    'gen_ai.usage.reasoning.output_tokens': row.reasoningTokens,
    'server.address': '127.0.0.1',
    'server.port': h.mock.port,
    'tollgate.call_id': row.callId,
    'tollgate.attempt': row.attempt,
    'tollgate.key_id': row.keyId,
    'tollgate.team': row.team,
    'tollgate.project': row.project,
    'tollgate.env': row.env,
    'tollgate.cost_usd': formatUsd(row.cost),
    'tollgate.reserved_usd': formatUsd(row.reserved),
    'tollgate.usage_source': row.usageSource,
    'tollgate.budget_decision': 'ok',
  });
}

describe('OpenTelemetry CLIENT spans (GenAI semantic conventions)', () => {
  it("chat JSON: span `chat <model>` equals the ledger row, is the child of the client's traceparent, and the provider got its traceparent", async () => {
    const traceId = hex(16);
    const clientSpanId = hex(8);
    const { response } = await h
      .openai(keys.search.secret)
      .chat.completions.create(
        { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: SEARCH_PROMPT }] },
        {
          headers: {
            traceparent: `00-${traceId}-${clientSpanId}-01`,
            tracestate: 'acme=abc123',
            baggage: 'feature_id=search-box,secret_thing=do-not-forward',
            'x-mock-cached-tokens': '4',
            'x-mock-reasoning-tokens': '7',
          },
        },
      )
      .withResponse();
    const callId = callIdOf(response);
    const [row] = await rows(callId);
    expect(row).toMatchObject({
      status: 'ok',
      cacheReadTokens: 4,
      reasoningTokens: 7,
      feature: 'search-box',
    });
    const [span, extra] = spansOf(callId);
    expect(extra).toBeUndefined();
    expectSpanMatchesRow(span!, row!, 'chat', 'openai');
    expect(span!.attributes['tollgate.feature']).toBe('search-box');
    expect(span!.attributes['tollgate.cost_center']).toBe('CC-1');
    // The mock's own finish_reason for an answer that was not cut.
    expect(span!.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes['error.type']).toBeUndefined();

    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.parentSpanContext?.spanId).toBe(clientSpanId);
    const sent = upstreamRequestOf(span!);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(String(sent?.headers.traceparent).split('-')[1]).toBe(traceId);
    // W3C: tracestate travels with the trace context; baggage never leaves the gateway.
    expect(sent?.headers.tracestate).toBe('acme=abc123');
    expect(sent?.headers.baggage).toBeUndefined();
  });

  it('a call without traceparent starts a new trace, and the provider still gets the span as parent', async () => {
    const { response } = await h
      .openai(keys.search.secret)
      .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: SEARCH_PROMPT }] })
      .withResponse();
    const callId = callIdOf(response);
    const [row] = await rows(callId);
    const [span] = spansOf(callId);
    expectSpanMatchesRow(span!, row!, 'chat', 'openai');
    expect(span!.parentSpanContext).toBeUndefined();
    expect(upstreamRequestOf(span!)).toBeDefined();
  });

  it('streaming: the span ends after settlement with the streamed usage', async () => {
    const traceId = hex(16);
    const { data, response } = await h
      .openai(keys.search.secret)
      .chat.completions.create(
        {
          model: 'gpt-4.1-mini',
          messages: [{ role: 'user', content: SEARCH_PROMPT }],
          stream: true,
          stream_options: { include_usage: true },
        },
        { headers: { traceparent: `00-${traceId}-${hex(8)}-01`, 'x-mock-output-tokens': '33' } },
      )
      .withResponse();
    for await (const _chunk of data) {
      // drain
    }
    const callId = callIdOf(response);
    const [row] = await rows(callId);
    expect(row).toMatchObject({ status: 'ok', stream: true, outputTokens: 33, usageSource: 'provider' });
    const [span] = spansOf(callId);
    expectSpanMatchesRow(span!, row!, 'chat', 'openai');
    expect(span!.attributes['tollgate.stream']).toBe(true);
    expect(span!.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(String(upstreamRequestOf(span!)?.headers.traceparent).split('-')[1]).toBe(traceId);
  });

  it('gen_ai.response.finish_reasons: ["length"] when max_tokens cuts the answer, JSON and streamed', async () => {
    // The mock writes 16 tokens unless told otherwise: a cap of 3 cuts it.
    const body = {
      model: 'gpt-4.1-mini',
      max_tokens: 3,
      messages: [{ role: 'user' as const, content: SEARCH_PROMPT }],
    };
    const json = await h.openai(keys.search.secret).chat.completions.create(body).withResponse();
    expect(json.data.choices[0]?.finish_reason).toBe('length');
    const streamed = await h
      .openai(keys.search.secret)
      .chat.completions.create({ ...body, stream: true })
      .withResponse();
    for await (const _chunk of streamed.data) {
      // drain
    }
    for (const response of [json.response, streamed.response]) {
      const callId = callIdOf(response);
      const [row] = await rows(callId);
      expect(row).toMatchObject({ status: 'ok', outputTokens: 3 });
      const [span] = spansOf(callId);
      expectSpanMatchesRow(span!, row!, 'chat', 'openai');
      expect(span!.attributes['gen_ai.response.finish_reasons']).toEqual(['length']);
    }
  });

  it('embeddings: span `embeddings <model>` with input tokens only', async () => {
    const { response } = await h
      .openai(keys.search.secret)
      .embeddings.create({ model: EMBEDDING, input: 'The quick brown fox jumps over the lazy dog.' })
      .withResponse();
    const callId = callIdOf(response);
    const [row] = await rows(callId);
    expect(row!.inputTokens).toBeGreaterThan(0);
    expect(row!.outputTokens).toBe(0);
    const [span] = spansOf(callId);
    expectSpanMatchesRow(span!, row!, 'embeddings', 'openai');
    expect(span!.name).toBe(`embeddings ${EMBEDDING}`);
    // Embeddings do not finish: no finish reasons rather than a made-up one.
    expect(span!.attributes['gen_ai.response.finish_reasons']).toBeUndefined();
  });

  it('translated provider call (openai client → Anthropic): provider anthropic, cache tokens counted in input_tokens', async () => {
    const traceId = hex(16);
    const { response } = await h
      .openai(keys.search.secret)
      .chat.completions.create(
        {
          model: SONNET,
          max_tokens: 100,
          messages: [
            {
              role: 'user',
              content: 'Name three rivers in Europe and the countries each one flows through.',
            },
          ],
        },
        {
          headers: {
            traceparent: `00-${traceId}-${hex(8)}-01`,
            'x-mock-cached-tokens': '3',
            'x-mock-cache-write-tokens': '5',
          },
        },
      )
      .withResponse();
    const callId = callIdOf(response);
    const [row] = await rows(callId);
    expect(row).toMatchObject({
      status: 'ok',
      provider: 'anthropic',
      cacheReadTokens: 3,
      cacheWriteTokens: 5,
    });
    const [span] = spansOf(callId);
    expectSpanMatchesRow(span!, row!, 'chat', 'anthropic');
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBe(row!.inputTokens + 8);
    // Anthropic's own stop_reason, not the finish_reason the client was sent.
    expect(span!.attributes['gen_ai.response.finish_reasons']).toEqual(['end_turn']);
    const sent = upstreamRequestOf(span!);
    expect(sent?.path).toBe('/v1/messages');
    expect(String(sent?.headers.traceparent).split('-')[1]).toBe(traceId);
  });

  it('translated stream (openai client → Anthropic) cut by max_tokens: the stop_reason max_tokens', async () => {
    const { data, response } = await h
      .openai(keys.search.secret)
      .chat.completions.create({
        model: SONNET,
        max_tokens: 3,
        stream: true,
        messages: [{ role: 'user', content: SEARCH_PROMPT }],
      })
      .withResponse();
    const finishes: Array<string | null> = [];
    for await (const chunk of data) finishes.push(chunk.choices[0]?.finish_reason ?? null);
    expect(finishes.filter((f) => f !== null)).toEqual(['length']);
    const callId = callIdOf(response);
    const [row] = await rows(callId);
    expect(row).toMatchObject({ status: 'ok', provider: 'anthropic', stream: true, outputTokens: 3 });
    const [span] = spansOf(callId);
    expectSpanMatchesRow(span!, row!, 'chat', 'anthropic');
    expect(span!.attributes['gen_ai.response.finish_reasons']).toEqual(['max_tokens']);
  });

  it('a failing upstream: one span per attempt, error.type and ERROR status; the retry is attempt 2', async () => {
    const answer = await postChat(
      h,
      keys.search.secret,
      { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: SEARCH_PROMPT }] },
      { 'x-mock-fault': '500' },
    );
    expect(answer.status).toBe(502);
    const callId = callIdOf(answer);
    const attempts = await rows(callId);
    expect(attempts.map((r) => [r.attempt, r.status, r.errorCode])).toEqual([
      [1, 'upstream_error', 'upstream_error'],
      [2, 'upstream_error', 'upstream_error'],
    ]);
    const [first, second] = spansOf(callId);
    for (const s of [first!, second!]) {
      expect(s.name).toBe('chat gpt-4.1-mini');
      expect(s.attributes['error.type']).toBe('upstream_error');
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      // No usage came back: the usage attributes are absent rather than a made-up 0.
      expect(s.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
      expect(s.attributes['gen_ai.response.finish_reasons']).toBeUndefined();
    }
    expect(first!.attributes['tollgate.attempt']).toBe(1);
    expect(second!.attributes['tollgate.attempt']).toBe(2);
    expect(second!.attributes['tollgate.route']).toBe('retry');
  });

  it('a budget denial is never forwarded: no span, but a ledger row', async () => {
    const answer = await postChat(h, keys.botDev.secret, {
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: OPTIN_PROMPT }],
    });
    expect(answer.status).toBe(429);
    expect(errorCode(answer)).toBe('budget_exceeded');
    const callId = callIdOf(answer);
    const [row] = await rows(callId);
    expect(row).toMatchObject({ status: 'denied', denialPolicy: 'bot-dev-tiny' });
    expect(spansOf(callId)).toEqual([]);
    const line = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.callId === callId);
    expect(line).toMatchObject({
      status: 'denied',
      errorCode: 'budget_exceeded',
      decision: 'denied:bot-dev-tiny',
    });
  });

  it('an opted-in project call and a refused key (for the metrics and log checks below)', async () => {
    const ok = await postChat(h, keys.bot.secret, {
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: OPTIN_PROMPT }],
    });
    expect(ok.status).toBe(200);
    const refused = await postChat(h, refusedKey, {
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: SEARCH_PROMPT }],
    });
    expect(refused.status).toBe(401);
  });
});

/** A Prometheus sample value (e.g. "0.000123", "1.5e-7") as exact integer nanos. */
function nanosOf(value: string): bigint {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(value);
  if (!m) throw new Error(`not a non-negative decimal: ${value}`);
  const frac = m[2] ?? '';
  const shift = Number(m[3] ?? 0) - frac.length + 9;
  const digits = BigInt(`${m[1]}${frac}`);
  if (shift >= 0) return digits * 10n ** BigInt(shift);
  const div = 10n ** BigInt(-shift);
  if (digits % div !== 0n) throw new Error(`${value} is not a whole number of nanos`);
  return digits / div;
}

describe('Prometheus /metrics', () => {
  it('while an attempt is in flight: one open reservation, one attempt, its reserved USD', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${h.gateway.url}/metrics`)).text();
      return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f.metrics[0]?.value]));
    };
    const before = h.mock.stats.requests;
    const pending = postChat(
      h,
      keys.search.secret,
      { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: SEARCH_PROMPT }] },
      { 'x-mock-latency-ms': '400' },
    );
    while (h.mock.stats.requests === before) await new Promise((r) => setTimeout(r, 5));
    const during = await scrape();
    const answer = await pending;
    const [row] = await rows(callIdOf(answer));
    expect(during.get('tollgate_inflight_attempts')).toBe('1');
    expect(during.get('tollgate_reservations_open')).toBe('1');
    expect(nanosOf(during.get('tollgate_inflight_reserved_usd') ?? '')).toBe(BigInt(row!.reserved));
    const after = await scrape();
    expect(after.get('tollgate_inflight_attempts')).toBe('0');
    expect(after.get('tollgate_inflight_reserved_usd')).toBe('0');
  });

  it('parses; spend per team equals the ledger exactly; tokens by kind equal; denials, retries and gauges present', async () => {
    const ledger = await allRows();
    expect(ledger.some((r) => r.status === 'pending')).toBe(false);
    const res = await fetch(`${h.gateway.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    const family = (name: string) => {
      const f = families.get(name);
      if (!f) throw new Error(`metric ${name} missing`);
      return f;
    };

    const spendByTeam = new Map<string, bigint>();
    for (const s of family('tollgate_spend_usd_total').metrics) {
      const team = s.labels?.team ?? '';
      spendByTeam.set(team, (spendByTeam.get(team) ?? 0n) + nanosOf(s.value ?? ''));
    }
    const ledgerByTeam = new Map<string, bigint>();
    for (const r of ledger) ledgerByTeam.set(r.team, (ledgerByTeam.get(r.team) ?? 0n) + BigInt(r.cost));
    expect(ledgerByTeam.get('search')).toBeGreaterThan(0n);
    expect(ledgerByTeam.get('support')).toBeGreaterThan(0n);
    for (const [team, nanos] of ledgerByTeam) expect(spendByTeam.get(team) ?? 0n).toBe(nanos);

    const tokens = new Map<string, number>();
    for (const s of family('tollgate_tokens_total').metrics) {
      const kind = s.labels?.kind ?? '';
      tokens.set(kind, (tokens.get(kind) ?? 0) + Number(s.value));
    }
    const sum = (pick: (r: CallRecord) => number) => ledger.reduce((n, r) => n + pick(r), 0);
    expect(Object.fromEntries(tokens)).toEqual({
      input: sum((r) => r.inputTokens),
      output: sum((r) => r.outputTokens),
      cache_read: sum((r) => r.cacheReadTokens),
      cache_write: sum((r) => r.cacheWriteTokens),
      reasoning: sum((r) => r.reasoningTokens),
    });
    expect(tokens.get('cache_write')).toBe(5);

    const calls = family('tollgate_calls_total').metrics.reduce((n, s) => n + Number(s.value), 0);
    expect(calls).toBe(ledger.length);

    const denials = family('tollgate_denials_total').metrics.map((s) => [s.labels, s.value]);
    expect(denials).toContainEqual([
      { code: 'budget_exceeded', policy: 'bot-dev-tiny', team: 'support' },
      '1',
    ]);
    expect(denials).toContainEqual([{ code: 'invalid_api_key', policy: '', team: '' }, '1']);

    expect(family('tollgate_route_actions_total').metrics).toContainEqual({
      labels: { action: 'retry', team: 'search', project: 'ranker', env: 'prod' },
      value: '1',
    });
    expect(family('tollgate_upstream_errors_total').metrics).toContainEqual({
      labels: { provider: 'mock', code: 'upstream_error' },
      value: '2',
    });

    expect(family('tollgate_queue_depth')).toMatchObject({ type: 'GAUGE', metrics: [{ value: '0' }] });
    expect(family('tollgate_reservations_open').metrics).toEqual([{ value: '0' }]);
    expect(family('tollgate_inflight_attempts').metrics).toEqual([{ value: '0' }]);
    expect(family('tollgate_inflight_reserved_usd').metrics).toEqual([{ value: '0' }]);
    expect(family('tollgate_budget_reserved_usd').metrics).toEqual([
      { labels: { policy: 'bot-dev-tiny' }, value: '0' },
    ]);

    const forwarded = ledger.filter((r) => r.status !== 'denied').length;
    const latency = family('tollgate_call_latency_seconds');
    expect(latency.type).toBe('HISTOGRAM');
    // This parser merges the buckets of labelled histograms; count the _count lines directly.
    const counts = [...text.matchAll(/^tollgate_call_latency_seconds_count\{[^}]*\} (\d+)$/gm)];
    expect(counts.reduce((n, m) => n + Number(m[1]), 0)).toBe(forwarded);
    expect(family('tollgate_ttft_seconds').type).toBe('HISTOGRAM');
  });
});

describe('OpenTelemetry metrics', () => {
  async function collected(): Promise<Map<string, MetricData>> {
    await metricReader.forceFlush();
    const last = metricExporter.getMetrics().at(-1);
    return new Map(last?.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]) ?? []);
  }

  it('gen_ai.client.token.usage and gen_ai.client.operation.duration with the semconv buckets; tollgate.cost and denials', async () => {
    const metrics = await collected();
    const usage = metrics.get('gen_ai.client.token.usage');
    expect(usage?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const embeddingInput = usage?.dataPoints.find(
      (p) =>
        p.attributes['gen_ai.request.model'] === EMBEDDING && p.attributes['gen_ai.token.type'] === 'input',
    );
    const embeddingRows = (await allRows()).filter((r) => r.modelUsed === EMBEDDING);
    const value = embeddingInput?.value as Histogram | undefined;
    expect(value?.sum).toBe(embeddingRows.reduce((n, r) => n + r.inputTokens, 0));
    expect(value?.buckets.boundaries).toEqual(TOKEN_USAGE_BUCKETS);
    expect(embeddingInput?.attributes).toMatchObject({
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.provider.name': 'openai',
      'server.address': '127.0.0.1',
    });

    const duration = metrics.get('gen_ai.client.operation.duration');
    expect(duration?.descriptor.unit).toBe('s');
    const failed = duration?.dataPoints.find((p) => p.attributes['error.type'] === 'upstream_error');
    expect((failed?.value as Histogram | undefined)?.count).toBe(2);
    expect((failed?.value as Histogram | undefined)?.buckets.boundaries).toEqual(OPERATION_DURATION_BUCKETS);

    const cost = metrics.get('tollgate.cost');
    const supportCost = cost?.dataPoints
      .filter((p) => p.attributes['tollgate.team'] === 'support')
      .reduce((n, p) => n + Number(p.value), 0);
    const supportNanos = (await allRows())
      .filter((r) => r.team === 'support')
      .reduce((n, r) => n + r.cost, 0);
    expect(supportCost).toBeCloseTo(supportNanos / 1e9, 12);

    const denials = metrics.get('tollgate.denials');
    expect(denials?.dataPoints.find((p) => p.attributes['tollgate.policy'] === 'bot-dev-tiny')?.value).toBe(
      1,
    );
  });
});

describe('access log', () => {
  const access = () =>
    logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.kind === 'access');

  it('one line per ledger row (and per refused call), with identity, outcome and cost', async () => {
    const ledger = await allRows();
    const lines = access();
    const logged = lines.map((l) => `${String(l.callId)}#${String(l.attempt ?? '-')}`).sort();
    const refusals = lines.filter((l) => l.errorCode === 'invalid_api_key');
    expect(refusals).toHaveLength(1);
    expect(logged).toEqual(
      [...ledger.map((r) => `${r.callId}#${r.attempt}`), `${String(refusals[0]?.callId)}#-`].sort(),
    );
    const ok = ledger.find((r) => r.modelUsed === SONNET)!;
    expect(lines.find((l) => l.callId === ok.callId)).toMatchObject({
      level: 30,
      msg: 'call',
      attempt: 1,
      keyId: ok.keyId,
      team: 'search',
      project: 'ranker',
      env: 'prod',
      modelRequested: SONNET,
      model: SONNET,
      provider: 'anthropic',
      status: 'ok',
      httpStatus: 200,
      errorCode: null,
      costUsd: formatUsd(ok.cost),
      latencyMs: ok.latencyMs,
      ttftMs: ok.ttftMs,
    });
  });

  it('never contains an API key; prompts only for the opted-in project, cut to max_bytes', () => {
    const text = logLines.join('');
    for (const k of [keys.search.secret, keys.bot.secret, keys.botDev.secret, refusedKey, 'upstream-secret'])
      expect(text).not.toContain(k);
    expect(text).not.toContain(SEARCH_PROMPT);
    const withPrompt = access().filter((l) => l.prompt !== undefined);
    expect(withPrompt.length).toBe(2);
    for (const l of withPrompt) {
      expect(l.project).toBe('bot');
      expect(l.promptTruncated).toBe(true);
      expect(Buffer.byteLength(String(l.prompt))).toBeLessThanOrEqual(MAX_PROMPT_BYTES);
      expect(Buffer.byteLength(String(l.prompt))).toBeGreaterThan(MAX_PROMPT_BYTES - 4);
      expect(String(l.prompt)).toContain('OPTIN-PROMPT');
    }
  });
});

describe('telemetry disabled', () => {
  let off: Harness;
  beforeAll(async () => {
    off = await startHarness({ config: { telemetry: { prometheus: { enabled: false } } } });
  });
  afterAll(async () => off.close());

  it('no /metrics route, no traceparent upstream, calls unaffected', async () => {
    expect(off.gateway.services.telemetry.prometheus).toBeNull();
    const res = await fetch(`${off.gateway.url}/metrics`);
    expect(res.status).toBe(404);
    const key = await off.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const answer = await postChat(
      off,
      key.secret,
      { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] },
      { traceparent: `00-${hex(16)}-${hex(8)}-01` },
    );
    expect(answer.status).toBe(200);
    expect(off.mock.received.at(-1)?.headers.traceparent).toBeUndefined();
  });
});

describe('OTLP/HTTP export', () => {
  it('spans and metrics are pushed to telemetry.otlp.endpoint with its headers', async () => {
    const received: { path: string; headers: IncomingHttpHeaders; bytes: number }[] = [];
    const collector = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, bytes });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const otlp = await startHarness({
      config: {
        telemetry: { otlp: { endpoint, headers: { 'x-collector-token': 'tok-1' }, interval_ms: 60_000 } },
      },
    });
    try {
      const key = await otlp.createKey({ team: 'search', project: 'ranker', env: 'prod' });
      const answer = await postChat(otlp, key.secret, {
        model: 'gpt-4.1-mini',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(answer.status).toBe(200);
      expect(String(otlp.mock.received.at(-1)?.headers.traceparent)).toMatch(
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
      );
    } finally {
      // Shutdown flushes the batch span processor and the metric reader.
      await otlp.close();
      await new Promise<void>((r) => collector.close(() => r()));
    }
    const paths = received.map((r) => r.path).sort();
    expect(paths).toEqual(['/v1/metrics', '/v1/traces']);
    for (const r of received) {
      expect(r.headers['x-collector-token']).toBe('tok-1');
      expect(r.bytes).toBeGreaterThan(0);
    }
  });
});
