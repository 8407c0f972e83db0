import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruMap } from './lru.ts';

const keys = <V>(m: LruMap<V>) => [...m.entries()].map(([k]) => k);

describe('LruMap', () => {
  it('orders entries by last set and evicts from the old end', () => {
    const m = new LruMap<number>();
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    m.set('a', 4);
    expect(keys(m)).toEqual(['b', 'c', 'a']);
    expect(m.get('b')).toBe(2);
    expect(keys(m)).toEqual(['b', 'c', 'a']);
    m.evict(2);
    expect(keys(m)).toEqual(['c', 'a']);
    m.evict(10, (v) => v === 3);
    expect(keys(m)).toEqual(['a']);
    expect(m.delete('a')).toBe(true);
    expect(m.delete('a')).toBe(false);
    expect([m.size, keys(m)]).toEqual([0, []]);
  });

  it('stops evicting expired entries at the first live one', () => {
    const m = new LruMap<number>();
    for (const [k, v] of [
      ['a', 1],
      ['b', 9],
      ['c', 1],
    ] as const)
      m.set(k, v);
    m.evict(10, (v) => v < 5);
    expect(keys(m)).toEqual(['b', 'c']);
  });

  it('agrees with a Map re-inserted on every set (property)', () => {
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), fc.integer({ min: 0, max: 9 })),
      fc.tuple(fc.constant('delete' as const), fc.integer({ min: 0, max: 9 })),
      fc.tuple(fc.constant('evict' as const), fc.integer({ min: 0, max: 6 })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const lru = new LruMap<number>();
        const model = new Map<string, number>();
        ops.forEach(([kind, n], i) => {
          const key = `k${n}`;
          if (kind === 'set') {
            lru.set(key, i);
            model.delete(key);
            model.set(key, i);
          } else if (kind === 'delete') {
            expect(lru.delete(key)).toBe(model.delete(key));
          } else {
            lru.evict(n);
            while (model.size > n) model.delete(model.keys().next().value ?? '');
          }
          expect([...lru.entries()]).toEqual([...model.entries()]);
          expect(lru.size).toBe(model.size);
        });
      }),
    );
  });
});
