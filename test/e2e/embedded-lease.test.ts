import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/finops/audit/types.ts';
import type { CallRecord } from '../../src/ledger/types.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * Embedded mode, lease renewal (issue 7): the gateway keeps the lease of its pending ledger rows
 * current while their calls run, so an audit taken during a call longer than `ledger.lease_ms`
 * does not report it as an orphaned reservation (`expired_lease`).
 */

const LEASE_MS = 3_000;
/** Stream pacing: one token per chunk. */
const INTER_CHUNK_MS = 50;
/** 150 tokens at 50 ms: 7.5 s, 2.5 leases. */
const LONG_STREAM_TOKENS = 150;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('embedded mode: the pending row of a long call keeps a current lease', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      config: {
        ledger: { lease_ms: LEASE_MS },
        budgets: [{ id: 'search-cap', match: { team: 'search' }, limit: { usd: 100 } }],
      },
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  async function audit(): Promise<AuditReport> {
    await h.gateway.services.ledger.flush();
    const r = await h.admin<AuditReport>('POST', '/admin/v1/audit', {});
    expect(r.status).toBe(200);
    return r.body;
  }

  function expectPasses(report: AuditReport): void {
    const failing = report.checks.filter((c) => !c.ok);
    expect(failing, JSON.stringify(failing, null, 2)).toEqual([]);
  }

  async function pendingRows(): Promise<CallRecord[]> {
    return h.gateway.services.store.ledger.pendingRows();
  }

  it('an audit mid-call, past the first lease, finds no expired lease; so does one after the call', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const startedAt = Date.now();
    const long = fetch(`${h.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key.secret}`,
        'content-type': 'application/json',
        'x-mock-output-tokens': String(LONG_STREAM_TOKENS),
        'x-mock-ttft-ms': '50',
        'x-mock-inter-chunk-ms': String(INTER_CHUNK_MS),
      },
      body: JSON.stringify({
        model: 'gpt-4.1',
        messages: [{ role: 'user', content: 'a long answer' }],
        max_tokens: 2000,
        stream: true,
      }),
      signal: AbortSignal.timeout(30_000),
    }).then(async (res) => ({
      status: res.status,
      callId: res.headers.get('x-tollgate-call-id'),
      body: await res.text(),
    }));

    // Cut short by a failed expectation, the stream's end must not be an unhandled rejection.
    long.catch(() => undefined);

    // 1.5 leases in: the row's first lease (start + lease) is over, the call is not.
    await sleep(LEASE_MS * 1.5);
    const midCall = await audit();
    expectPasses(midCall);
    const reservations = midCall.checks.find((c) => c.name === 'no_orphaned_reservations');
    expect(reservations?.summary).toBe('1 pending row, all within their lease; open reservations match');
    const [row, ...others] = await pendingRows();
    expect(others).toEqual([]);
    if (!row) throw new Error('no pending row for the running call');
    expect(row.leaseUntil ?? 0).toBeGreaterThan(row.tsStart + LEASE_MS);
    expect(row.leaseUntil ?? 0).toBeGreaterThan(Date.now());

    const reply = await long;
    expect(Date.now() - startedAt).toBeGreaterThan(LEASE_MS * 2.4);
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('data: [DONE]');
    if (!reply.callId) throw new Error('no call id');
    const final = await h.finalRow(reply.callId, key.id);
    expect(final.status).toBe('ok');
    expect(final.leaseUntil).toBeNull();
    expect(final.outputTokens).toBe(LONG_STREAM_TOKENS);
    expect(await pendingRows()).toEqual([]);
    expectPasses(await audit());
  }, 30_000);
});
