import type { AllocationRow, Granularity } from './allocation.ts';
import { type FocusLine, SKU_METER, skuPriceId } from './focus.ts';
import { monthOf } from './range.ts';
import { type Column, col, type Table } from './table.ts';

/** The allocation table's columns, in file order; call-only columns appear with --by call. */
export function allocationTable(rows: readonly AllocationRow[], by: Granularity): Table<AllocationRow> {
  const c: Array<Column<AllocationRow> | false> = [
    col.date('date', (r) => r.dayMs),
    col.string('org', (r) => r.org),
    col.string('team', (r) => r.team),
    col.string('cost_center', (r) => r.costCenter),
    col.string('project', (r) => r.project),
    col.string('env', (r) => r.env),
    col.string('feature', (r) => r.feature),
    col.string('model', (r) => r.model),
    col.string('provider', (r) => r.provider),
    by !== 'day' && col.string('request_id', (r) => r.requestId),
    by === 'call' && col.string('call_id', (r) => r.callId),
    by === 'call' && col.int('attempt', (r) => r.attempt),
    by === 'call' && col.timestamp('ts_start', (r) => r.tsStart),
    by === 'call' && col.string('status', (r) => r.status),
    col.int('input_tokens', (r) => r.inputTokens),
    col.int('output_tokens', (r) => r.outputTokens),
    col.int('tool_call_tokens', (r) => r.toolCallTokens),
    col.int('cache_read_tokens', (r) => r.cacheReadTokens),
    col.int('cache_write_tokens', (r) => r.cacheWriteTokens),
    col.int('reasoning_tokens', (r) => r.reasoningTokens),
    col.usd('usd', (r) => r.cost),
    col.int('cost_nanos', (r) => r.cost),
    col.int('calls', (r) => r.calls),
  ];
  return { columns: c.filter((x): x is Column<AllocationRow> => x !== false), rows };
}

const SERVICE_CATEGORY = 'AI and Machine Learning';
const SERVICE_SUBCATEGORY = 'Generative AI';

/**
 * FOCUS 1.3 Cost and Usage columns. The gateway bills nothing itself: the provider is the
 * service provider, host, publisher and invoice issuer; the org is the billing account and
 * the key's team/project/env the sub account. No discounts pass through the gateway, so
 * BilledCost = EffectiveCost = ListCost = ContractedCost.
 */
export function focusTable(lines: readonly FocusLine[], by: Granularity): Table<FocusLine> {
  const cost = (l: FocusLine) => l.nanos;
  const price = (l: FocusLine) => l.unitPico;
  const c: Array<Column<FocusLine> | false> = [
    col.usd('BilledCost', cost),
    col.string('BillingAccountId', (l) => l.org),
    col.string('BillingAccountName', (l) => l.org),
    col.string('BillingCurrency', () => 'USD'),
    col.timestamp('BillingPeriodStart', (l) => monthOf(l.chargeStartMs).fromMs),
    col.timestamp('BillingPeriodEnd', (l) => monthOf(l.chargeStartMs).toMs),
    col.string('ChargeCategory', () => 'Usage'),
    col.string('ChargeClass', () => null),
    col.string('ChargeDescription', describe),
    col.string('ChargeFrequency', () => 'Usage-Based'),
    col.timestamp('ChargePeriodStart', (l) => l.chargeStartMs),
    col.timestamp('ChargePeriodEnd', (l) => l.chargeEndMs),
    col.quantity('ConsumedQuantity', (l) => l.tokens),
    col.string('ConsumedUnit', () => 'Tokens'),
    col.usd('ContractedCost', cost),
    col.unitPrice('ContractedUnitPrice', price),
    col.usd('EffectiveCost', cost),
    col.string('HostProviderName', (l) => l.provider),
    col.string('InvoiceIssuerName', (l) => l.provider),
    col.usd('ListCost', cost),
    col.unitPrice('ListUnitPrice', price),
    col.string('PricingCategory', () => 'Standard'),
    col.quantity('PricingQuantity', (l) => l.tokens),
    col.string('PricingUnit', () => 'Tokens'),
    col.string('ProviderName', (l) => l.provider),
    col.string('PublisherName', (l) => l.provider),
    col.string('ServiceCategory', () => SERVICE_CATEGORY),
    col.string('ServiceName', (l) => l.provider),
    col.string('ServiceProviderName', (l) => l.provider),
    col.string('ServiceSubcategory', () => SERVICE_SUBCATEGORY),
    col.string('SkuId', (l) => `${l.provider}/${l.model}`),
    col.string('SkuMeter', (l) => SKU_METER[l.kind]),
    col.string('SkuPriceId', skuPriceId),
    col.string('SubAccountId', (l) => `${l.org}/${l.team}/${l.project}/${l.env}`),
    col.string('SubAccountName', (l) => `${l.team}/${l.project} (${l.env})`),
    col.json('Tags', tags),
    col.string('x_Team', (l) => l.team),
    col.string('x_Project', (l) => l.project),
    col.string('x_Env', (l) => l.env),
    col.string('x_Feature', (l) => l.feature),
    col.string('x_CostCenter', (l) => l.costCenter),
    col.string('x_Model', (l) => l.model),
    col.string('x_TokenKind', (l) => l.kind),
    col.int('x_Calls', (l) => l.calls),
    col.int('x_CostNanos', cost),
    by !== 'day' && col.string('x_RequestId', (l) => l.requestId),
    by === 'call' && col.string('x_CallId', (l) => l.callId),
    by === 'call' && col.int('x_Attempt', (l) => l.attempt),
  ];
  return { columns: c.filter((x): x is Column<FocusLine> => x !== false), rows: lines };
}

function describe(l: FocusLine): string {
  const tier = l.tierAbove === null ? '' : ` (above ${l.tierAbove} input tokens)`;
  return `${l.model} ${SKU_METER[l.kind].toLowerCase()}${tier} via ${l.provider} for ${l.team}/${l.project} (${l.env})`;
}

/** FOCUS Tags: the allocation dimensions as a JSON object; keys without a value are left out. */
function tags(l: FocusLine): string {
  const t: Record<string, string> = { team: l.team, project: l.project, env: l.env };
  if (l.feature !== null) t.feature = l.feature;
  if (l.costCenter !== null) t.cost_center = l.costCenter;
  return JSON.stringify(t);
}
