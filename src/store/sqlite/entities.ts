import type { Database } from 'better-sqlite3';
import type { RawBudget } from '../../config/schema.ts';
import type {
  BudgetRow,
  EntityStore,
  KeyRecord,
  KeyScopes,
  OrgRow,
  ProjectRow,
  RetiredSecret,
  Source,
  TeamRow,
} from '../interface.ts';

type SqlRow = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const strOrNull = (v: unknown): string | null => (v == null ? null : String(v));
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));
const json = <T>(v: unknown, fallback: T): T => (v == null ? fallback : (JSON.parse(String(v)) as T));

function toKey(r: SqlRow): KeyRecord {
  return {
    id: str(r.id),
    hash: str(r.hash),
    prefix: str(r.prefix),
    name: strOrNull(r.name),
    org: str(r.org),
    team: str(r.team),
    project: str(r.project),
    env: str(r.env),
    user: strOrNull(r.user),
    costCenter: strOrNull(r.cost_center),
    models: json<string[] | null>(r.models, null),
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    createdAt: Number(r.created_at),
    rotatedFrom: strOrNull(r.rotated_from),
    metadata: json<Record<string, unknown>>(r.metadata, {}),
    scopes: json<KeyScopes>(r.scopes, {}),
  };
}

function keyParams(k: KeyRecord): SqlRow {
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
    models: k.models ? JSON.stringify(k.models) : null,
    expires_at: k.expiresAt,
    revoked_at: k.revokedAt,
    created_at: k.createdAt,
    rotated_from: k.rotatedFrom,
    metadata: JSON.stringify(k.metadata),
    scopes: JSON.stringify(k.scopes ?? {}),
  };
}

const KEY_COLUMNS = Object.keys(keyParams({} as KeyRecord));

export function sqliteEntityStore(db: Database): EntityStore {
  const s = {
    upsertOrg: db.prepare(
      'INSERT INTO orgs (id, name, source) VALUES (@id, @name, @source) ON CONFLICT(id) DO UPDATE SET name = excluded.name, source = excluded.source',
    ),
    listOrgs: db.prepare('SELECT * FROM orgs ORDER BY id'),
    upsertTeam: db.prepare(
      `INSERT INTO teams (id, org, name, cost_center, source, metadata, created_at)
       VALUES (@id, @org, @name, @cost_center, @source, @metadata, @created_at)
       ON CONFLICT(id) DO UPDATE SET org = excluded.org, name = excluded.name, cost_center = excluded.cost_center,
         source = excluded.source, metadata = excluded.metadata`,
    ),
    getTeam: db.prepare('SELECT * FROM teams WHERE id = ?'),
    listTeams: db.prepare('SELECT * FROM teams WHERE (@org IS NULL OR org = @org) ORDER BY id'),
    upsertProject: db.prepare(
      `INSERT INTO projects (id, team, name, source, created_at) VALUES (@id, @team, @name, @source, @created_at)
       ON CONFLICT(id) DO UPDATE SET team = excluded.team, name = excluded.name, source = excluded.source`,
    ),
    getProject: db.prepare('SELECT * FROM projects WHERE id = ?'),
    listProjects: db.prepare('SELECT * FROM projects WHERE (@team IS NULL OR team = @team) ORDER BY id'),
    insertKey: db.prepare(
      `INSERT INTO keys (${KEY_COLUMNS.join(', ')}) VALUES (${KEY_COLUMNS.map((c) => `@${c}`).join(', ')})`,
    ),
    updateKey: db.prepare(
      `UPDATE keys SET ${KEY_COLUMNS.filter((c) => c !== 'id')
        .map((c) => `${c} = @${c}`)
        .join(', ')} WHERE id = @id`,
    ),
    getKey: db.prepare('SELECT * FROM keys WHERE id = ?'),
    listKeys: db.prepare(
      `SELECT * FROM keys WHERE (@team IS NULL OR team = @team) AND (@project IS NULL OR project = @project)
       AND (@all = 1 OR revoked_at IS NULL) ORDER BY created_at, id`,
    ),
    upsertBudget: db.prepare(
      `INSERT INTO budgets (id, spec, source, created_at, updated_at) VALUES (@id, @spec, @source, @created_at, @updated_at)
       ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, source = excluded.source, updated_at = excluded.updated_at`,
    ),
    deleteBudget: db.prepare('DELETE FROM budgets WHERE id = ?'),
    retireSecret: db.prepare(
      'INSERT OR IGNORE INTO retired_secrets (hash, key_id, retired_at) VALUES (@hash, @key_id, @retired_at)',
    ),
    listRetired: db.prepare('SELECT * FROM retired_secrets'),
    listBudgets: db.prepare('SELECT * FROM budgets ORDER BY id'),
  };

  const toTeam = (r: SqlRow): TeamRow => ({
    id: str(r.id),
    org: str(r.org),
    name: str(r.name),
    costCenter: strOrNull(r.cost_center),
    source: str(r.source) as Source,
    metadata: json<Record<string, unknown>>(r.metadata, {}),
    createdAt: Number(r.created_at),
  });
  const toProject = (r: SqlRow): ProjectRow => ({
    id: str(r.id),
    team: str(r.team),
    name: str(r.name),
    source: str(r.source) as Source,
    createdAt: Number(r.created_at),
  });
  const toBudget = (r: SqlRow): BudgetRow => ({
    id: str(r.id),
    spec: JSON.parse(str(r.spec)) as RawBudget,
    source: str(r.source) as Source,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  });

  return {
    async upsertOrg(row: OrgRow) {
      s.upsertOrg.run(row);
    },
    async listOrgs() {
      return (s.listOrgs.all() as SqlRow[]).map((r) => ({
        id: str(r.id),
        name: str(r.name),
        source: str(r.source) as Source,
      }));
    },
    async upsertTeam(t: TeamRow) {
      s.upsertTeam.run({
        id: t.id,
        org: t.org,
        name: t.name,
        cost_center: t.costCenter,
        source: t.source,
        metadata: JSON.stringify(t.metadata),
        created_at: t.createdAt,
      });
    },
    async getTeam(id: string) {
      const r = s.getTeam.get(id) as SqlRow | undefined;
      return r ? toTeam(r) : undefined;
    },
    async listTeams(org?: string) {
      return (s.listTeams.all({ org: org ?? null }) as SqlRow[]).map(toTeam);
    },
    async upsertProject(p: ProjectRow) {
      s.upsertProject.run({
        id: p.id,
        team: p.team,
        name: p.name,
        source: p.source,
        created_at: p.createdAt,
      });
    },
    async getProject(id: string) {
      const r = s.getProject.get(id) as SqlRow | undefined;
      return r ? toProject(r) : undefined;
    },
    async listProjects(team?: string) {
      return (s.listProjects.all({ team: team ?? null }) as SqlRow[]).map(toProject);
    },
    async insertKey(k: KeyRecord) {
      s.insertKey.run(keyParams(k));
    },
    async updateKey(k: KeyRecord) {
      s.updateKey.run(keyParams(k));
    },
    async getKey(id: string) {
      const r = s.getKey.get(id) as SqlRow | undefined;
      return r ? toKey(r) : undefined;
    },
    async listKeys(filter = {}) {
      return (
        s.listKeys.all({
          team: filter.team ?? null,
          project: filter.project ?? null,
          all: filter.includeRevoked ? 1 : 0,
        }) as SqlRow[]
      ).map(toKey);
    },
    async retireSecret(r: RetiredSecret) {
      s.retireSecret.run({ hash: r.hash, key_id: r.keyId, retired_at: r.retiredAt });
    },
    async listRetiredSecrets() {
      return (s.listRetired.all() as SqlRow[]).map((r) => ({
        hash: str(r.hash),
        keyId: str(r.key_id),
        retiredAt: Number(r.retired_at),
      }));
    },
    async upsertBudget(b: BudgetRow) {
      s.upsertBudget.run({
        id: b.id,
        spec: JSON.stringify(b.spec),
        source: b.source,
        created_at: b.createdAt,
        updated_at: b.updatedAt,
      });
    },
    async deleteBudget(id: string) {
      s.deleteBudget.run(id);
    },
    async listBudgets() {
      return (s.listBudgets.all() as SqlRow[]).map(toBudget);
    },
  };
}
