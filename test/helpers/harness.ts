import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { type Logger, pino } from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import type { CallRecord } from '../../src/ledger/types.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import type { TelemetryExporters } from '../../src/telemetry/index.ts';

export const MASTER = 'test-master-key-0123456789';

export interface Harness {
  mock: MockServer;
  gateway: Gateway;
  dbFile: string;
  admin<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
  createKey(input: Record<string, unknown>): Promise<{ id: string; secret: string }>;
  openai(secret: string, extra?: Partial<ConstructorParameters<typeof OpenAI>[0]>): OpenAI;
  /** The final (settled) ledger row of a call, waiting for the batched writer; throws after ~2 s. */
  finalRow(callId: string, keyId: string): Promise<CallRecord>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** tollgate.yaml content as an object (or built from the mock's URL); providers/models default to the mock. */
  config?: Record<string, unknown> | ((mockUrl: string) => Record<string, unknown>);
  clock?: () => number;
  /** Where gateway logs go (default: silent). */
  logger?: Logger;
  /** Test-only OpenTelemetry exporters (in-memory spans / metrics). */
  telemetryExporters?: TelemetryExporters;
  mock?: Parameters<typeof startMock>[0];
}

export const TEST_MODELS = [
  { id: 'gpt-4.1', provider: 'mock', max_output_tokens: 32768 },
  { id: 'gpt-4.1-mini', provider: 'mock', max_output_tokens: 32768 },
  { id: 'gpt-4o-mini', provider: 'mock', max_output_tokens: 16384 },
  {
    id: 'custom-priced',
    provider: 'mock',
    upstream_model: 'gpt-4.1-mini',
    prices: { input: 1, output: 3, cache_read: 0.25 },
  },
  { id: 'unpriced-model', provider: 'mock', upstream_model: 'my-local-llm' },
];

export const TEST_ORGS = [
  {
    id: 'acme',
    teams: [
      { id: 'search', cost_center: 'CC-1', projects: [{ id: 'ranker' }] },
      { id: 'support', cost_center: 'CC-2', projects: [{ id: 'bot' }] },
    ],
  },
];

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const mock = await startMock({ port: 0, recordRequests: 50, ...opts.mock });
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const dbFile = join(dir, 'ledger.db');
  const rawConfig = () =>
    parseConfig({
      server: { port: 0, master_key: MASTER },
      providers: {
        mock: {
          kind: 'openai',
          base_url: `${mock.url}/v1`,
          api_key: 'upstream-secret',
          forward_headers: ['x-mock-*'],
        },
      },
      models: TEST_MODELS,
      orgs: TEST_ORGS,
      ...(typeof opts.config === 'function' ? opts.config(mock.url) : opts.config),
    });
  const boot = () =>
    startGateway({
      config: rawConfig(),
      dbFile,
      port: 0,
      clock: opts.clock,
      logger: opts.logger ?? pino({ level: 'silent' }),
      telemetryExporters: opts.telemetryExporters,
    });
  let gateway = await boot();

  const h: Harness = {
    mock,
    get gateway() {
      return gateway;
    },
    dbFile,
    async admin(method, path, body) {
      const res = await fetch(`${gateway.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as never };
    },
    async createKey(input) {
      const r = await h.admin<{ id: string; key: string }>('POST', '/admin/v1/keys', input);
      if (r.status !== 201) throw new Error(`key create failed: ${JSON.stringify(r.body)}`);
      return { id: r.body.id, secret: r.body.key };
    },
    openai(secret, extra = {}) {
      return new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: secret, maxRetries: 0, ...extra });
    },
    async finalRow(callId, keyId) {
      for (let i = 0; i < 100; i++) {
        await gateway.services.ledger.flush();
        const rows = await gateway.services.store.ledger.queryCalls({ keyId, limit: 1000 });
        const row = rows.find((r) => r.callId === callId && r.status !== 'pending');
        if (row) return row;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no final row for ${callId}`);
    },
    async restart() {
      await gateway.close();
      gateway = await boot();
    },
    async close() {
      await gateway.close();
      await mock.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
