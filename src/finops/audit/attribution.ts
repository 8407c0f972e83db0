import type { CallRecord } from '../../ledger/types.ts';
import type { KeyRecord, ProjectRow, TeamRow } from '../../store/interface.ts';
import type { AttributionItem, AuditCheck } from './types.ts';
import { plural } from './views.ts';

/** What a row's identity is checked against: the entity tables as they are now. */
export interface AttributionSources {
  keys: ReadonlyMap<string, KeyRecord>;
  teams: ReadonlyMap<string, TeamRow>;
  projects: ReadonlyMap<string, ProjectRow>;
  envs: ReadonlySet<string>;
}

type Field = Extract<AttributionItem, { kind: 'key_rebound' }>['fields'][number];

/** Where the row's stamped identity and its key record disagree (a key edited after the fact). */
function reboundFields(row: CallRecord, key: KeyRecord): Field[] {
  const pairs: Array<[Field['field'], string | null, string | null]> = [
    ['org', row.org, key.org],
    ['team', row.team, key.team],
    ['project', row.project, key.project],
    ['env', row.env, key.env],
    ['cost_center', row.costCenter, key.costCenter],
  ];
  return pairs.filter(([, r, k]) => r !== k).map(([field, r, k]) => ({ field, row: r, key: k }));
}

/** The identity problems of one row, each with a grouping signature (same problem → one item). */
function problemsOf(row: CallRecord, src: AttributionSources): Array<[string, AttributionItem]> {
  const out: Array<[string, AttributionItem]> = [];
  const key = src.keys.get(row.keyId);
  if (!key) out.push([`key:${row.keyId}`, { kind: 'unknown_key', keyId: row.keyId, callIds: [] }]);
  else {
    const fields = reboundFields(row, key);
    if (fields.length > 0) {
      out.push([
        `rebound:${row.keyId}:${JSON.stringify(fields)}`,
        { kind: 'key_rebound', keyId: row.keyId, fields, callIds: [] },
      ]);
    }
  }
  const team = src.teams.get(row.team);
  if (!team) out.push([`team:${row.team}`, { kind: 'unknown_team', team: row.team, callIds: [] }]);
  else if (team.org !== row.org) {
    out.push([
      `team-org:${row.team}:${row.org}`,
      { kind: 'team_outside_org', team: row.team, org: row.org, teamOrg: team.org, callIds: [] },
    ]);
  }
  const project = src.projects.get(row.project);
  if (!project) {
    out.push([`project:${row.project}`, { kind: 'unknown_project', project: row.project, callIds: [] }]);
  } else if (project.team !== row.team) {
    out.push([
      `project-team:${row.project}:${row.team}`,
      {
        kind: 'project_outside_team',
        project: row.project,
        team: row.team,
        projectTeam: project.team,
        callIds: [],
      },
    ]);
  }
  if (!src.envs.has(row.env))
    out.push([`env:${row.env}`, { kind: 'unknown_env', env: row.env, callIds: [] }]);
  return out;
}

/**
 * Check 1: every ledger row resolves, through its key, to exactly one org / team / project /
 * env / cost center — the key exists, its record says what the row says, and the team and
 * project exist and nest. A key whose record was edited after the fact ("re-bound") shows up
 * here with the calls it made under its old binding.
 */
export function checkAttribution(
  rows: readonly CallRecord[],
  src: AttributionSources,
): AuditCheck<'attribution'> {
  const groups = new Map<string, AttributionItem>();
  const badRows = new Set<CallRecord>();
  for (const row of rows) {
    for (const [signature, fresh] of problemsOf(row, src)) {
      const item = groups.get(signature) ?? fresh;
      groups.set(signature, item);
      if (!item.callIds.includes(row.callId)) item.callIds.push(row.callId);
      badRows.add(row);
    }
  }
  const items = [...groups.values()];
  return {
    name: 'attribution',
    ok: items.length === 0,
    summary:
      items.length === 0
        ? `${plural(rows.length, 'row')}: each resolves through its key to one org/team/project/env/cost center`
        : `${plural(badRows.size, 'row')} of ${rows.length} do not resolve to their key's team/project/env (${plural(items.length, 'problem')})`,
    items,
  };
}
