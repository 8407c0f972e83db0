import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { budgetSchema } from '../../config/schema.ts';
import type { EntityStore, KeyRecord } from '../interface.ts';

/**
 * The contract every EntityStore keeps (SQLite embedded, PostgreSQL cluster). Run it with a
 * factory that opens a fresh, empty, migrated store per test.
 */
export interface EntityStoreHandle {
  entities: EntityStore;
  close(): Promise<void>;
}

export type EntityStoreFactory = () => Promise<EntityStoreHandle>;

/** Largest epoch-ms / nanos value a JS number holds exactly. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

function key(id: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id,
    hash: `hash-${id}`,
    prefix: `tg_${id}`,
    name: null,
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    user: null,
    costCenter: null,
    models: null,
    scopes: {},
    expiresAt: null,
    revokedAt: null,
    createdAt: 1_000,
    rotatedFrom: null,
    metadata: {},
    ...overrides,
  };
}

export function entityStoreContract(name: string, open: EntityStoreFactory): void {
  describe(`EntityStore contract: ${name}`, () => {
    let handle: EntityStoreHandle;
    let e: EntityStore;
    beforeEach(async () => {
      handle = await open();
      e = handle.entities;
    });
    afterEach(async () => {
      await handle.close();
    });

    it('upserts orgs and lists them by id', async () => {
      await e.upsertOrg({ id: 'zeta', name: 'Zeta', source: 'config' });
      await e.upsertOrg({ id: 'acme', name: 'Acme', source: 'config' });
      await e.upsertOrg({ id: 'acme', name: 'Acme Corp', source: 'api' });
      expect(await e.listOrgs()).toEqual([
        { id: 'acme', name: 'Acme Corp', source: 'api' },
        { id: 'zeta', name: 'Zeta', source: 'config' },
      ]);
    });

    it('upserts a team in place, keeping when it was created', async () => {
      await e.upsertTeam({
        id: 'search',
        org: 'acme',
        name: 'Search',
        costCenter: null,
        source: 'config',
        metadata: {},
        createdAt: 100,
      });
      await e.upsertTeam({
        id: 'search',
        org: 'acme2',
        name: 'Search & Ranking',
        costCenter: 'CC-7',
        source: 'api',
        metadata: { owner: 'ana', tags: ['a', 'b'], depth: { n: 1 } },
        createdAt: 999,
      });
      expect(await e.getTeam('search')).toEqual({
        id: 'search',
        org: 'acme2',
        name: 'Search & Ranking',
        costCenter: 'CC-7',
        source: 'api',
        metadata: { owner: 'ana', tags: ['a', 'b'], depth: { n: 1 } },
        createdAt: 100,
      });
      expect(await e.getTeam('nope')).toBeUndefined();
    });

    it('lists teams by id, optionally for one org', async () => {
      for (const [id, org] of [
        ['web', 'acme'],
        ['Ads', 'acme'],
        ['infra', 'other'],
        ['api', 'acme'],
      ] as const) {
        await e.upsertTeam({
          id,
          org,
          name: id,
          costCenter: null,
          source: 'config',
          metadata: {},
          createdAt: 1,
        });
      }
      // Byte order, as SQLite sorts: upper case before lower case.
      expect((await e.listTeams()).map((t) => t.id)).toEqual(['Ads', 'api', 'infra', 'web']);
      expect((await e.listTeams('acme')).map((t) => t.id)).toEqual(['Ads', 'api', 'web']);
      expect(await e.listTeams('none')).toEqual([]);
    });

    it('upserts projects in place and lists them per team', async () => {
      await e.upsertProject({ id: 'ranker', team: 'search', name: 'Ranker', source: 'config', createdAt: 5 });
      await e.upsertProject({
        id: 'crawler',
        team: 'search',
        name: 'Crawler',
        source: 'config',
        createdAt: 6,
      });
      await e.upsertProject({
        id: 'billing',
        team: 'payments',
        name: 'Billing',
        source: 'api',
        createdAt: 7,
      });
      await e.upsertProject({
        id: 'ranker',
        team: 'search',
        name: 'Ranker v2',
        source: 'api',
        createdAt: 50,
      });
      expect(await e.getProject('ranker')).toEqual({
        id: 'ranker',
        team: 'search',
        name: 'Ranker v2',
        source: 'api',
        createdAt: 5,
      });
      expect(await e.getProject('missing')).toBeUndefined();
      expect((await e.listProjects()).map((p) => p.id)).toEqual(['billing', 'crawler', 'ranker']);
      expect((await e.listProjects('search')).map((p) => p.id)).toEqual(['crawler', 'ranker']);
    });

    it('inserts a key and reads every field back exactly', async () => {
      const k = key('k1', {
        name: 'CI bot',
        user: 'ana',
        costCenter: 'CC-1',
        models: ['gpt-4o*', 'claude-*'],
        scopes: { providers: ['openai'], rpm: 60, tpm: 100_000, maxConcurrent: 4 },
        expiresAt: MAX_EXACT,
        createdAt: 1_750_000_000_123,
        rotatedFrom: 'k0',
        metadata: { ticket: 'OPS-1', nested: { list: [1, 'two', null] } },
      });
      await e.insertKey(k);
      expect(await e.getKey('k1')).toEqual(k);
      expect(await e.getKey('k2')).toBeUndefined();
    });

    it('refuses a second key with the same secret hash', async () => {
      await e.insertKey(key('k1', { hash: 'same' }));
      await expect(e.insertKey(key('k2', { hash: 'same' }))).rejects.toThrow();
      expect((await e.listKeys()).map((k) => k.id)).toEqual(['k1']);
    });

    it('updates a key in place', async () => {
      await e.insertKey(key('k1', { models: ['a'] }));
      const updated = key('k1', {
        name: 'renamed',
        models: null,
        scopes: { rpm: 5 },
        revokedAt: 2_000,
        metadata: { reason: 'leaked' },
      });
      await e.updateKey(updated);
      expect(await e.getKey('k1')).toEqual(updated);
    });

    it('lists keys by creation time, without revoked ones unless asked, filtered by team and project', async () => {
      await e.insertKey(key('b', { createdAt: 2 }));
      await e.insertKey(key('a', { createdAt: 2 }));
      await e.insertKey(key('c', { createdAt: 1, team: 'ads', project: 'bidder' }));
      await e.insertKey(key('d', { createdAt: 3, revokedAt: 10 }));
      await e.insertKey(key('e', { createdAt: 4, project: 'crawler' }));
      expect((await e.listKeys()).map((k) => k.id)).toEqual(['c', 'a', 'b', 'e']);
      expect((await e.listKeys({ includeRevoked: true })).map((k) => k.id)).toEqual([
        'c',
        'a',
        'b',
        'd',
        'e',
      ]);
      expect((await e.listKeys({ team: 'search' })).map((k) => k.id)).toEqual(['a', 'b', 'e']);
      expect(
        (await e.listKeys({ team: 'search', project: 'ranker', includeRevoked: true })).map((k) => k.id),
      ).toEqual(['a', 'b', 'd']);
      expect(await e.listKeys({ project: 'none' })).toEqual([]);
    });

    it('remembers a retired secret once', async () => {
      await e.retireSecret({ hash: 'h1', keyId: 'k1', retiredAt: 10 });
      await e.retireSecret({ hash: 'h1', keyId: 'other', retiredAt: 99 });
      await e.retireSecret({ hash: 'h2', keyId: 'k2', retiredAt: MAX_EXACT });
      const rows = await e.listRetiredSecrets();
      expect([...rows].sort((x, y) => x.hash.localeCompare(y.hash))).toEqual([
        { hash: 'h1', keyId: 'k1', retiredAt: 10 },
        { hash: 'h2', keyId: 'k2', retiredAt: MAX_EXACT },
      ]);
    });

    it('upserts, lists and deletes budgets, keeping the creation time', async () => {
      const spec = budgetSchema.parse({
        id: 'team-search',
        match: { team: 'search' },
        limit: { usd: '1250.000000001', tokens: 5_000_000 },
        window: { kind: 'rolling', size: '7d', bucket: '1h' },
        alerts: [0.5, 0.75],
      });
      await e.upsertBudget({ id: 'team-search', spec, source: 'config', createdAt: 1, updatedAt: 1 });
      await e.upsertBudget({
        id: 'aa-first',
        spec: { ...spec, id: 'aa-first' },
        source: 'api',
        createdAt: 3,
        updatedAt: 3,
      });
      const changed = { ...spec, mode: 'soft' as const };
      await e.upsertBudget({ id: 'team-search', spec: changed, source: 'api', createdAt: 50, updatedAt: 50 });
      expect(await e.listBudgets()).toEqual([
        { id: 'aa-first', spec: { ...spec, id: 'aa-first' }, source: 'api', createdAt: 3, updatedAt: 3 },
        { id: 'team-search', spec: changed, source: 'api', createdAt: 1, updatedAt: 50 },
      ]);
      await e.deleteBudget('aa-first');
      await e.deleteBudget('never-existed');
      expect((await e.listBudgets()).map((b) => b.id)).toEqual(['team-search']);
    });
  });
}
