import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** Request attribution: W3C Baggage and x-tollgate-* headers, validated; identity only from the key. */

const ORGS = [
  {
    id: 'acme',
    teams: [
      {
        id: 'search',
        cost_center: 'CC-1',
        projects: [{ id: 'ranker', features: ['rerank', 'query-expand'] }],
      },
      { id: 'support', cost_center: 'CC-2', projects: [{ id: 'bot' }] },
    ],
  },
];

async function call(h: Harness, secret: string, headers: Record<string, string>) {
  const res = await fetch(`${h.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
    }),
  });
  const body = (await res.json()) as { error?: { code: string; param: string | null } };
  return { status: res.status, callId: String(res.headers.get('x-tollgate-call-id')), body };
}

describe.each([
  ['unattributed', 200],
  ['reject', 400],
] as const)('feature allowlist per project, unknown features %s', (mode, unknownStatus) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ config: { orgs: ORGS, attribution: { unknown_feature: mode } } });
  });
  afterAll(() => h.close());

  it('records baggage context on the row; allowlisted features pass; unknown ones follow the mode', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const ok = await call(h, key.secret, {
      baggage: 'feature_id=rerank,request_id=req%2F42,session_id=s-1;ttl=3,other=ignored',
    });
    expect(ok.status).toBe(200);
    expect(await h.finalRow(ok.callId, key.id)).toMatchObject({
      feature: 'rerank',
      requestId: 'req/42',
      sessionId: 's-1',
      team: 'search',
      project: 'ranker',
      costCenter: 'CC-1',
    });
    // The header wins over baggage.
    const both = await call(h, key.secret, {
      'x-tollgate-feature': 'query-expand',
      baggage: 'feature_id=rerank',
    });
    expect((await h.finalRow(both.callId, key.id)).feature).toBe('query-expand');

    const unknown = await call(h, key.secret, { 'x-tollgate-feature': 'side-project' });
    expect(unknown.status).toBe(unknownStatus);
    if (mode === 'unattributed') {
      expect(await h.finalRow(unknown.callId, key.id)).toMatchObject({
        feature: 'unattributed',
        status: 'ok',
      });
    } else {
      // Refused as a malformed request, like bad JSON: before anything is reserved or billed.
      expect(unknown.body.error).toMatchObject({ code: 'invalid_request', param: 'x-tollgate-feature' });
    }
  });

  it('a project without an allowlist takes any feature', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const r = await call(h, key.secret, { 'x-tollgate-feature': 'anything-goes' });
    expect(r.status).toBe(200);
    expect((await h.finalRow(r.callId, key.id)).feature).toBe('anything-goes');
  });
});

describe('context values and W3C size limits', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ config: { orgs: ORGS } });
  });
  afterAll(() => h.close());

  it('baggage over 8192 bytes or 180 members is dropped whole, not half-read', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const big = `feature_id=big,pad=${'x'.repeat(8200)}`;
    const many = ['feature_id=many', ...Array.from({ length: 180 }, (_, i) => `k${i}=v`)].join(',');
    for (const baggage of [big, many]) {
      const r = await call(h, key.secret, { baggage });
      expect(r.status).toBe(200);
      expect((await h.finalRow(r.callId, key.id)).feature).toBeNull();
    }
    const fine = ['feature_id=fits', ...Array.from({ length: 179 }, (_, i) => `k${i}=v`)].join(',');
    const r = await call(h, key.secret, { baggage: fine });
    expect((await h.finalRow(r.callId, key.id)).feature).toBe('fits');
  });

  it('malformed context values are a clear 400 naming the header', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    for (const [name, value] of [
      ['x-tollgate-feature', 'has space'],
      ['x-tollgate-request-id', 'x'.repeat(200)],
      ['x-tollgate-session-id', '../etc'],
    ] as const) {
      const r = await call(h, key.secret, { [name]: value });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param: name });
    }
  });

  it('team, project, env and cost center come only from the key, whatever the headers claim', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    const r = await call(h, key.secret, {
      'x-team': 'search',
      'x-tollgate-team': 'search',
      'x-tollgate-project': 'ranker',
      'x-tollgate-env': 'prod',
      baggage: 'team=search,project=ranker,env=prod,cost_center=CC-1',
    });
    expect(await h.finalRow(r.callId, key.id)).toMatchObject({
      team: 'support',
      project: 'bot',
      env: 'dev',
      costCenter: 'CC-2',
    });
    const sent = h.mock.received.at(-1)?.headers ?? {};
    expect(Object.keys(sent).filter((k) => k.includes('team') || k === 'baggage')).toEqual([]);
  });
});
