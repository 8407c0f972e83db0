import { describe, expect, it } from 'vitest';
import { selfCheck } from './selfCheck.ts';
import { callRow } from './testRows.ts';
import type { AuditCheck } from './types.ts';

const passing = <
  N extends 'attribution' | 'caps_held' | 'counters_match_ledger' | 'no_orphaned_reservations',
>(
  name: N,
): AuditCheck<N> => ({ name, ok: true, summary: `${name} ok`, items: [] });

const base = {
  attribution: passing('attribution'),
  caps: passing('caps_held'),
  counters: passing('counters_match_ledger'),
  reservations: passing('no_orphaned_reservations'),
};

describe('selfCheck', () => {
  const rows = [
    callRow({ callId: 'a', team: 'search', cost: 700 }),
    callRow({ callId: 'b', attempt: 1, team: 'support', cost: 0, status: 'upstream_error' }),
    callRow({ callId: 'b', attempt: 2, team: 'support', cost: 300 }),
  ];
  const split = [
    { team: 'search', cost: 700 },
    { team: 'support', cost: 300 },
  ];

  it('passes when the logs are whole and every allocation adds up to the ledger', () => {
    const check = selfCheck({
      ...base,
      rows,
      allocations: [
        { source: 'the allocation table', byTeam: split },
        { source: 'the usage API', byTeam: split },
      ],
    });
    expect(check.ok).toBe(true);
    expect(check.items.map((i) => [i.layer, i.ok, i.reason])).toEqual([
      ['logging', true, '2 calls (3 attempt rows): every forwarded call has its final row'],
      ['attribution', true, 'attribution ok'],
      [
        'allocation',
        true,
        'the allocation table and the usage API by team (2 teams) sum to $0.000001, the ledger total',
      ],
      ['enforcement', true, 'caps held, counters equal the ledger, no orphaned reservations'],
    ]);
  });

  it('fails a layer with its reason: a lost attempt row, an allocation that does not add up, a failed check', () => {
    const check = selfCheck({
      ...base,
      caps: { ...passing('caps_held'), ok: false, summary: '1 hard policy exceeded a cap' },
      rows: rows.filter((r) => !(r.callId === 'b' && r.attempt === 1)),
      allocations: [{ source: 'the allocation table', byTeam: [{ team: 'search', cost: 700 }] }],
    });
    expect(check.ok).toBe(false);
    expect(check.summary).toBe('failing layers: logging, allocation, enforcement');
    expect(check.items.filter((i) => !i.ok).map((i) => i.reason)).toEqual([
      'attempt rows missing for b',
      'the allocation table by team sums to $0.0000007, not the ledger total $0.000001',
      'caps_held: 1 hard policy exceeded a cap',
    ]);
  });
});
