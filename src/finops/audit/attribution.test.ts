import { describe, expect, it } from 'vitest';
import type { KeyRecord, ProjectRow, TeamRow } from '../../store/interface.ts';
import { checkAttribution } from './attribution.ts';
import { callRow } from './testRows.ts';

function key(overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id: 'key-1',
    hash: 'h',
    prefix: 'tg-',
    name: null,
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    user: null,
    costCenter: 'CC-1',
    models: null,
    scopes: {},
    expiresAt: null,
    revokedAt: null,
    createdAt: 0,
    rotatedFrom: null,
    metadata: {},
    ...overrides,
  };
}

const team = (id: string, org = 'acme'): TeamRow => ({
  id,
  org,
  name: id,
  costCenter: null,
  source: 'config',
  metadata: {},
  createdAt: 0,
});
const project = (id: string, teamId: string): ProjectRow => ({
  id,
  team: teamId,
  name: id,
  source: 'config',
  createdAt: 0,
});

function sources(keys: KeyRecord[]) {
  return {
    keys: new Map(keys.map((k) => [k.id, k])),
    teams: new Map([
      ['search', team('search')],
      ['support', team('support')],
    ]),
    projects: new Map([
      ['ranker', project('ranker', 'search')],
      ['bot', project('bot', 'support')],
    ]),
    envs: new Set(['dev', 'prod']),
  };
}

describe('checkAttribution', () => {
  const rows = [callRow({ callId: 'a' }), callRow({ callId: 'a', attempt: 2 }), callRow({ callId: 'b' })];

  it('passes when every row matches its key record and the entities nest', () => {
    const check = checkAttribution(rows, sources([key()]));
    expect(check).toMatchObject({ ok: true, items: [] });
    expect(check.summary).toBe(
      '3 rows: each resolves through its key to one org/team/project/env/cost center',
    );
  });

  it('names the calls of a key re-bound to another team after the fact', () => {
    const check = checkAttribution(
      rows,
      sources([key({ team: 'support', project: 'bot', costCenter: 'CC-2' })]),
    );
    expect(check.ok).toBe(false);
    expect(check.items).toEqual([
      {
        kind: 'key_rebound',
        keyId: 'key-1',
        fields: [
          { field: 'team', row: 'search', key: 'support' },
          { field: 'project', row: 'ranker', key: 'bot' },
          { field: 'cost_center', row: 'CC-1', key: 'CC-2' },
        ],
        callIds: ['a', 'b'],
      },
    ]);
  });

  it('names unknown keys, projects outside their team and unknown envs', () => {
    const odd = [
      callRow({ callId: 'ghost', keyId: 'gone' }),
      callRow({ callId: 'mixed', keyId: 'k2', project: 'bot', env: 'qa' }),
    ];
    const check = checkAttribution(odd, sources([key({ id: 'k2', project: 'bot', env: 'qa' })]));
    expect(check.items).toEqual([
      { kind: 'unknown_key', keyId: 'gone', callIds: ['ghost'] },
      {
        kind: 'project_outside_team',
        project: 'bot',
        team: 'search',
        projectTeam: 'support',
        callIds: ['mixed'],
      },
      { kind: 'unknown_env', env: 'qa', callIds: ['mixed'] },
    ]);
  });
});
