import type { Insertable, Kysely, Selectable } from 'kysely';
import type { RawBudget } from '../../config/schema.ts';
import type {
  BudgetRow,
  EntityStore,
  KeyRecord,
  KeyScopes,
  ProjectRow,
  Source,
  TeamRow,
} from '../interface.ts';
import type { KeysTable, ProjectsTable, TeamsTable, TollgateDatabase } from './schema.ts';

function toKey(r: Selectable<KeysTable>): KeyRecord {
  return {
    id: r.id,
    hash: r.hash,
    prefix: r.prefix,
    name: r.name,
    org: r.org,
    team: r.team,
    project: r.project,
    env: r.env,
    user: r.user,
    costCenter: r.cost_center,
    models: r.models,
    scopes: r.scopes as KeyScopes,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    createdAt: r.created_at,
    rotatedFrom: r.rotated_from,
    metadata: r.metadata,
  };
}

function keyRow(k: KeyRecord): Insertable<KeysTable> {
  return {
    id: k.id,
    hash: k.hash,
    prefix: k.prefix,
    name: k.name,
    org: k.org,
    team: k.team,
    project: k.project,
    env: k.env,
    user: k.user,
    cost_center: k.costCenter,
    // JSON text, never the JS array: pg would send an array as a Postgres array literal.
    models: k.models ? JSON.stringify(k.models) : null,
    scopes: JSON.stringify(k.scopes ?? {}),
    expires_at: k.expiresAt,
    revoked_at: k.revokedAt,
    created_at: k.createdAt,
    rotated_from: k.rotatedFrom,
    metadata: JSON.stringify(k.metadata),
  };
}

const toTeam = (r: Selectable<TeamsTable>): TeamRow => ({
  id: r.id,
  org: r.org,
  name: r.name,
  costCenter: r.cost_center,
  source: r.source as Source,
  metadata: r.metadata,
  createdAt: r.created_at,
});

const toProject = (r: Selectable<ProjectsTable>): ProjectRow => ({
  id: r.id,
  team: r.team,
  name: r.name,
  source: r.source as Source,
  createdAt: r.created_at,
});

/** Config entities, keys and budgets; the same semantics as the SQLite store. */
export function postgresEntityStore(db: Kysely<TollgateDatabase>): EntityStore {
  return {
    async upsertOrg(row) {
      await db
        .insertInto('orgs')
        .values(row)
        .onConflict((oc) =>
          oc
            .column('id')
            .doUpdateSet((eb) => ({ name: eb.ref('excluded.name'), source: eb.ref('excluded.source') })),
        )
        .execute();
    },
    async listOrgs() {
      const rows = await db.selectFrom('orgs').selectAll().orderBy('id').execute();
      return rows.map((r) => ({ id: r.id, name: r.name, source: r.source as Source }));
    },
    async upsertTeam(t) {
      await db
        .insertInto('teams')
        .values({
          id: t.id,
          org: t.org,
          name: t.name,
          cost_center: t.costCenter,
          source: t.source,
          metadata: JSON.stringify(t.metadata),
          created_at: t.createdAt,
        })
        // created_at is kept: the first sighting is when the team was created.
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            org: eb.ref('excluded.org'),
            name: eb.ref('excluded.name'),
            cost_center: eb.ref('excluded.cost_center'),
            source: eb.ref('excluded.source'),
            metadata: eb.ref('excluded.metadata'),
          })),
        )
        .execute();
    },
    async getTeam(id) {
      const r = await db.selectFrom('teams').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toTeam(r) : undefined;
    },
    async listTeams(org) {
      let q = db.selectFrom('teams').selectAll();
      if (org !== undefined) q = q.where('org', '=', org);
      return (await q.orderBy('id').execute()).map(toTeam);
    },
    async upsertProject(p) {
      await db
        .insertInto('projects')
        .values({ id: p.id, team: p.team, name: p.name, source: p.source, created_at: p.createdAt })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            team: eb.ref('excluded.team'),
            name: eb.ref('excluded.name'),
            source: eb.ref('excluded.source'),
          })),
        )
        .execute();
    },
    async getProject(id) {
      const r = await db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toProject(r) : undefined;
    },
    async listProjects(team) {
      let q = db.selectFrom('projects').selectAll();
      if (team !== undefined) q = q.where('team', '=', team);
      return (await q.orderBy('id').execute()).map(toProject);
    },
    async insertKey(k) {
      await db.insertInto('keys').values(keyRow(k)).execute();
    },
    async updateKey(k) {
      const { id, ...rest } = keyRow(k);
      await db.updateTable('keys').set(rest).where('id', '=', id).execute();
    },
    async getKey(id) {
      const r = await db.selectFrom('keys').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toKey(r) : undefined;
    },
    async listKeys(filter = {}) {
      let q = db.selectFrom('keys').selectAll();
      if (filter.team !== undefined) q = q.where('team', '=', filter.team);
      if (filter.project !== undefined) q = q.where('project', '=', filter.project);
      if (!filter.includeRevoked) q = q.where('revoked_at', 'is', null);
      return (await q.orderBy('created_at').orderBy('id').execute()).map(toKey);
    },
    async retireSecret(r) {
      await db
        .insertInto('retired_secrets')
        .values({ hash: r.hash, key_id: r.keyId, retired_at: r.retiredAt })
        .onConflict((oc) => oc.column('hash').doNothing())
        .execute();
    },
    async listRetiredSecrets() {
      const rows = await db
        .selectFrom('retired_secrets')
        .selectAll()
        .orderBy('retired_at')
        .orderBy('hash')
        .execute();
      return rows.map((r) => ({ hash: r.hash, keyId: r.key_id, retiredAt: r.retired_at }));
    },
    async upsertBudget(b: BudgetRow) {
      await db
        .insertInto('budgets')
        .values({
          id: b.id,
          spec: JSON.stringify(b.spec),
          source: b.source,
          created_at: b.createdAt,
          updated_at: b.updatedAt,
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            spec: eb.ref('excluded.spec'),
            source: eb.ref('excluded.source'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    },
    async deleteBudget(id) {
      await db.deleteFrom('budgets').where('id', '=', id).execute();
    },
    async listBudgets() {
      const rows = await db.selectFrom('budgets').selectAll().orderBy('id').execute();
      return rows.map(
        (r): BudgetRow => ({
          id: r.id,
          spec: r.spec as RawBudget,
          source: r.source as Source,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
        }),
      );
    },
  };
}
