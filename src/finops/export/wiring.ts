import type { CompiledConfig } from '../../config/compile.ts';
import { buildPriceTable, type PriceTable } from '../../pricing/priceTable.ts';
import type { Services } from '../../server/services.ts';
import type { FinopsSettings } from './config.ts';
import { ExportScheduler } from './scheduler.ts';
import { ledgerStoreCalls } from './source.ts';
import type { PriceLookup } from './split.ts';

/** Prices by the ledger's (model_used, provider): the route of that model on that provider. */
export function priceLookup(config: CompiledConfig, prices: PriceTable): PriceLookup {
  return (model, provider) => {
    const route = config.routes.get(model)?.find((m) => m.provider === provider);
    return route ? prices.get(route.priceKey) : undefined;
  };
}

/** The same price table the gateway builds at startup, for exports run outside it. */
export function priceLookupFromConfig(config: CompiledConfig): PriceLookup {
  const table = buildPriceTable(
    [...config.routes.values()].flat().map((m) => ({
      id: m.priceKey,
      provider: m.priceProvider,
      upstreamModel: m.upstreamModel,
      prices: m.prices,
    })),
  );
  return priceLookup(config, table);
}

/** The running gateway's scheduler: its ledger, prices, clock and log. `settings` defaults to config. */
export function exportSchedulerFor(svc: Services, settings?: FinopsSettings): ExportScheduler {
  return new ExportScheduler({
    settings: settings ?? svc.config.raw.finops,
    calls: (range) => ledgerStoreCalls(svc.store.ledger, range),
    prices: priceLookup(svc.config, svc.prices),
    flush: () => svc.ledger.flush(),
    clock: svc.clock,
    log: svc.log,
  });
}
