import type { ReconciliationMetric } from '../types.ts';
import { decimalToNanos } from './decimal.ts';

/**
 * A provider's own usage (and cost) export, reduced to UTC day × model sums. Accepted shapes,
 * as the providers' admin APIs return them (one page, or an array of pages, mixed freely):
 * - OpenAI `GET /v1/organization/usage/completions` (group_by=model): buckets
 *   `{start_time, end_time, results: [{input_tokens, output_tokens, input_cached_tokens,
 *   num_model_requests, model, project_id, …}]}`; input_tokens includes cached tokens.
 * - OpenAI `GET /v1/organization/costs` (group_by=line_item): results
 *   `{amount: {value, currency}, line_item: "<model>, input", …}` with value in USD.
 * - Anthropic `GET /v1/organizations/usage_report/messages` (group_by[]=model): buckets
 *   `{starting_at, ending_at, results: [{uncached_input_tokens, cache_read_input_tokens,
 *   cache_creation: {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}, output_tokens, model, …}]}`.
 * - Anthropic `GET /v1/organizations/cost_report` (group_by[]=description): results
 *   `{amount: "123.45", currency: "USD", model, …}` with amount in cents.
 * Results without a model (an export not grouped by model) are summed under model '*' and
 * compared with the ledger's total for the day.
 */

export type ExportVendor = 'openai' | 'anthropic';

export interface ExportCell {
  day: string;
  /** The provider's model name as first seen ('*' = all models). */
  model: string;
  /** Only the metrics the export reports; cost_usd in nanos. */
  values: Partial<Record<ReconciliationMetric, number>>;
}

export interface ProviderExport {
  vendor: ExportVendor;
  /** UTC days (YYYY-MM-DD) the export has a bucket for, even an empty one. */
  days: Set<string>;
  /** Keyed by cellKey(day, modelKey(model)). */
  cells: Map<string, ExportCell>;
  /** Results that carry neither token counts nor an amount (other endpoints' shapes). */
  ignoredResults: number;
}

export type ParseResult = { ok: true; value: ProviderExport } | { ok: false; message: string };

const ALL_MODELS = '*';

/**
 * Model names compared without a trailing snapshot date: providers report the dated snapshot
 * ("gpt-4.1-mini-2025-04-14", "claude-sonnet-4-20250514") where a config may name the alias.
 */
export function modelKey(model: string): string {
  return model === ALL_MODELS ? model : model.replace(/-(\d{4}-\d{2}-\d{2}|\d{8})$/, '');
}

export function cellKey(day: string, key: string): string {
  return `${day}\u0000${key}`;
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

class ExportError extends Error {}

/** The bucket's start as epoch ms, and which vendor's shape it has. */
function bucketStart(bucket: Json, where: string): { vendor: ExportVendor; ms: number } {
  if (typeof bucket.start_time === 'number') return { vendor: 'openai', ms: bucket.start_time * 1000 };
  if (typeof bucket.starting_at === 'string') {
    const ms = Date.parse(bucket.starting_at);
    if (Number.isFinite(ms)) return { vendor: 'anthropic', ms };
  }
  throw new ExportError(`${where}: a bucket needs start_time (OpenAI) or starting_at (Anthropic)`);
}

type Values = Partial<Record<ReconciliationMetric, number>>;

function add(values: Values, metric: ReconciliationMetric, n: number | undefined): void {
  if (n !== undefined) values[metric] = (values[metric] ?? 0) + n;
}

/** USD nanos of a cost result, or undefined when the result is not a cost. */
function costOf(r: Json, vendor: ExportVendor, where: string): number | undefined {
  const amount = r.amount;
  if (amount === undefined || amount === null) return undefined;
  const money = isObject(amount) ? amount : { value: amount, currency: r.currency };
  const currency = typeof money.currency === 'string' ? money.currency.toLowerCase() : 'usd';
  if (currency !== 'usd')
    throw new ExportError(`${where}: only USD amounts can be reconciled, got ${currency}`);
  // OpenAI amounts are USD; Anthropic's cost report gives cents as a decimal string.
  const nanos = decimalToNanos(money.value, vendor === 'openai' ? 9 : 7);
  if (nanos === null) throw new ExportError(`${where}: amount is not a decimal number`);
  return nanos;
}

function modelOf(r: Json): string {
  if (typeof r.model === 'string' && r.model !== '') return r.model;
  // OpenAI cost line items read "<model>, <token kind>".
  if (typeof r.line_item === 'string' && r.line_item !== '')
    return r.line_item.split(',')[0]?.trim() || ALL_MODELS;
  return ALL_MODELS;
}

/** Token metrics of one usage result, or null when it is not a usage result. */
function usageOf(r: Json, vendor: ExportVendor): Values | null {
  const values: Values = {};
  if (vendor === 'openai') {
    if (count(r.input_tokens) === undefined && count(r.output_tokens) === undefined) return null;
    add(values, 'input_tokens', count(r.input_tokens));
    add(values, 'cache_read_tokens', count(r.input_cached_tokens));
    add(values, 'output_tokens', count(r.output_tokens));
    add(values, 'requests', count(r.num_model_requests));
    return values;
  }
  if (count(r.uncached_input_tokens) === undefined && count(r.output_tokens) === undefined) return null;
  add(values, 'uncached_input_tokens', count(r.uncached_input_tokens));
  add(values, 'cache_read_tokens', count(r.cache_read_input_tokens));
  if (isObject(r.cache_creation)) {
    const c = r.cache_creation;
    add(
      values,
      'cache_write_tokens',
      (count(c.ephemeral_5m_input_tokens) ?? 0) + (count(c.ephemeral_1h_input_tokens) ?? 0),
    );
  } else add(values, 'cache_write_tokens', count(r.cache_creation_input_tokens));
  add(values, 'output_tokens', count(r.output_tokens));
  return values;
}

export function parseProviderExport(input: unknown): ParseResult {
  try {
    return { ok: true, value: parse(input) };
  } catch (err) {
    if (err instanceof ExportError) return { ok: false, message: err.message };
    throw err;
  }
}

function parse(input: unknown): ProviderExport {
  const pages = Array.isArray(input) ? input : [input];
  let vendor: ExportVendor | null = null;
  const days = new Set<string>();
  const cells = new Map<string, ExportCell>();
  let ignoredResults = 0;
  for (const [p, page] of pages.entries()) {
    if (!isObject(page) || !Array.isArray(page.data)) {
      throw new ExportError(`page ${p}: expected an object with a "data" array of time buckets`);
    }
    for (const [b, bucket] of page.data.entries()) {
      const where = `page ${p} bucket ${b}`;
      if (!isObject(bucket)) throw new ExportError(`${where}: not an object`);
      const start = bucketStart(bucket, where);
      if (vendor !== null && vendor !== start.vendor) {
        throw new ExportError(`${where}: OpenAI and Anthropic exports cannot be mixed in one file`);
      }
      vendor = start.vendor;
      const day = utcDay(start.ms);
      days.add(day);
      const results = bucket.results ?? bucket.result ?? [];
      if (!Array.isArray(results)) throw new ExportError(`${where}: results must be an array`);
      for (const [i, r] of results.entries()) {
        if (!isObject(r)) throw new ExportError(`${where} result ${i}: not an object`);
        const values = usageOf(r, start.vendor) ?? {};
        add(values, 'cost_usd', costOf(r, start.vendor, `${where} result ${i}`));
        if (Object.keys(values).length === 0) {
          ignoredResults++;
          continue;
        }
        const model = modelOf(r);
        const key = cellKey(day, modelKey(model));
        const cell = cells.get(key) ?? { day, model, values: {} };
        cells.set(key, cell);
        for (const [metric, n] of Object.entries(values) as Array<[ReconciliationMetric, number]>) {
          add(cell.values, metric, n);
        }
      }
    }
  }
  if (vendor === null) throw new ExportError('the export has no time buckets');
  return { vendor, days, cells, ignoredResults };
}
