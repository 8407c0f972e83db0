/**
 * What bench/run.ts and bench/cluster.ts check after a run, through the admin API: the ledger
 * holds one row per call the gateway served (none denied, none left pending) and every budget
 * counted each of them with nothing left reserved. A failed check throws: the numbers of a run
 * that lost or refused calls would be invalid.
 */

export interface Totals {
  sent: number;
  ok: number;
}

export async function admin<T>(
  baseUrl: string,
  master: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${master}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

interface UsageResponse {
  data: Array<{ calls: number; denied: number }>;
}

export interface BudgetView {
  id: string;
  spent: { requests: number };
  reserved: { nanos: number };
}

export interface LedgerCounts {
  rows: number;
  ok: number;
  aborted: number;
}

export async function checkLedger(
  url: string,
  master: string,
  totals: Totals,
  budgetIds: readonly string[],
): Promise<LedgerCounts> {
  const count = async (status?: string) => {
    const q = status ? `&status=${status}` : '';
    const u = await admin<UsageResponse>(url, master, 'GET', `/admin/v1/usage?by=team${q}`);
    return u.data.reduce((acc, r) => ({ calls: acc.calls + r.calls, denied: acc.denied + r.denied }), {
      calls: 0,
      denied: 0,
    });
  };
  // Final rows are written off the request path: wait until the count stops moving.
  let all = await count();
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const next = await count();
    if (next.calls === all.calls && (await count('pending')).calls === 0) break;
    all = next;
  }
  const ok = (await count('ok')).calls;
  const aborted = (await count('client_aborted')).calls;
  const problems: string[] = [];
  if (all.denied > 0) problems.push(`${all.denied} denied calls`);
  if (ok < totals.ok) problems.push(`only ${ok} ok rows for ${totals.ok} 2xx responses received`);
  if (all.calls > totals.sent) problems.push(`${all.calls} rows but only ${totals.sent} requests sent`);
  if (all.calls - ok - aborted > 0)
    problems.push(`${all.calls - ok - aborted} rows neither ok nor client_aborted`);
  const budgets = await admin<{ data: BudgetView[] }>(url, master, 'GET', '/admin/v1/budgets');
  for (const id of budgetIds) {
    const b = budgets.data.find((x) => x.id === id);
    if (!b) problems.push(`budget ${id} missing`);
    else if (b.spent.requests < ok || b.spent.requests > all.calls || b.reserved.nanos !== 0)
      problems.push(
        `budget ${id} counted ${b.spent.requests} requests with ${b.reserved.nanos} nanos reserved; ` +
          `ledger has ${ok} ok / ${all.calls} rows`,
      );
  }
  if (problems.length > 0)
    throw new Error(
      `ledger check failed: ${problems.join('; ')} (${all.calls} rows, ${ok} ok, ${aborted} client_aborted)`,
    );
  return { rows: all.calls, ok, aborted };
}
