import type { Database } from 'better-sqlite3';
import type { AlertEvent, RunawayEvent } from './events.ts';
import type { FiredKey } from './thresholds.ts';

/** One try of one event to one target. */
export interface DeliveryAttempt {
  eventId: string;
  targetId: string;
  /** 1-based. */
  attempt: number;
  /** Epoch ms when the attempt finished. */
  ts: number;
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
}

/**
 * Alert persistence, shared by every replica using the same store (SQLite embedded, PostgreSQL
 * in cluster mode). Called only when a threshold is crossed and per delivery attempt, never per
 * request. Lists are newest first (at most 1000 rows).
 */
export interface AlertStore {
  /**
   * Stores a new event; false (nothing written) if its (policy, window, threshold) already fired.
   * Atomic: of several replicas inserting the same key at once, exactly one gets true.
   */
  insertEvent(event: AlertEvent, createdAtMs: number): Promise<boolean>;
  /** Stores a runaway event; false (nothing written) if the same trip (key, kind, feature, time) is stored. */
  insertRunaway(event: RunawayEvent, createdAtMs: number): Promise<boolean>;
  recordDelivery(attempt: DeliveryAttempt): Promise<void>;
  /** Budget events only. */
  listEvents(filter: { policyId?: string; limit: number }): Promise<AlertEvent[]>;
  listRunaway(filter: { limit: number }): Promise<RunawayEvent[]>;
  listDeliveries(filter: { eventId?: string; limit: number }): Promise<DeliveryAttempt[]>;
  /** Every fired budget (policy, window, threshold), to preload the fired set at startup. */
  firedKeys(): Promise<FiredKey[]>;
}

type SqlRow = Record<string, unknown>;

/**
 * Runaway events share alert_events (and so the delivery log) with budget events. Their policy_id
 * is `runaway/<key id>`: '/' is not allowed in a policy id, so no budget's rows can be mistaken
 * for them. Their window_id names the trip and their threshold is 0.
 */
export const RUNAWAY_PREFIX = 'runaway/';
const IS_RUNAWAY = `policy_id GLOB '${RUNAWAY_PREFIX}*'`;

export function runawayRow(event: RunawayEvent): { policy_id: string; window_id: string } {
  return {
    policy_id: RUNAWAY_PREFIX + event.keyId,
    window_id: JSON.stringify([event.at, event.kind, event.feature]),
  };
}

const MAX_LIST = 1000;

export function clampLimit(limit: number): number {
  return Number.isSafeInteger(limit) ? Math.min(Math.max(limit, 1), MAX_LIST) : MAX_LIST;
}

function toDelivery(r: SqlRow): DeliveryAttempt {
  return {
    eventId: String(r.event_id),
    targetId: String(r.target_id),
    attempt: Number(r.attempt),
    ts: Number(r.ts),
    ok: Number(r.ok) === 1,
    httpStatus: r.http_status == null ? null : Number(r.http_status),
    error: r.error == null ? null : String(r.error),
  };
}

/** The alert store over the gateway's one SQLite connection (tables from schema migration 3). */
export function sqliteAlertStore(db: Database): AlertStore {
  const s = {
    insertEvent: db.prepare(
      `INSERT INTO alert_events (id, policy_id, window_id, threshold, payload, created_at)
       VALUES (@id, @policy_id, @window_id, @threshold, @payload, @created_at)
       ON CONFLICT (policy_id, window_id, threshold) DO NOTHING`,
    ),
    insertDelivery: db.prepare(
      `INSERT INTO alert_deliveries (event_id, target_id, attempt, ts, ok, http_status, error)
       VALUES (@event_id, @target_id, @attempt, @ts, @ok, @http_status, @error)`,
    ),
    listEvents: db.prepare(
      `SELECT payload FROM alert_events
       WHERE (@policy_id IS NULL OR policy_id = @policy_id) AND NOT ${IS_RUNAWAY}
       ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
    ),
    listRunaway: db.prepare(
      `SELECT payload FROM alert_events WHERE ${IS_RUNAWAY}
       ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
    ),
    listDeliveries: db.prepare(
      `SELECT * FROM alert_deliveries WHERE (@event_id IS NULL OR event_id = @event_id)
       ORDER BY rowid DESC LIMIT @limit`,
    ),
    firedKeys: db.prepare(
      `SELECT policy_id, window_id, threshold FROM alert_events WHERE NOT ${IS_RUNAWAY}
       ORDER BY created_at, rowid`,
    ),
  };

  return {
    async insertEvent(event, createdAtMs) {
      const info = s.insertEvent.run({
        id: event.id,
        policy_id: event.policyId,
        window_id: event.windowId,
        threshold: event.threshold,
        payload: JSON.stringify(event),
        created_at: createdAtMs,
      });
      return info.changes === 1;
    },
    async insertRunaway(event, createdAtMs) {
      const info = s.insertEvent.run({
        id: event.id,
        ...runawayRow(event),
        threshold: 0,
        payload: JSON.stringify(event),
        created_at: createdAtMs,
      });
      return info.changes === 1;
    },
    async recordDelivery(a) {
      s.insertDelivery.run({
        event_id: a.eventId,
        target_id: a.targetId,
        attempt: a.attempt,
        ts: a.ts,
        ok: a.ok ? 1 : 0,
        http_status: a.httpStatus,
        error: a.error,
      });
    },
    async listEvents(filter) {
      const rows = s.listEvents.all({ policy_id: filter.policyId ?? null, limit: clampLimit(filter.limit) });
      return (rows as SqlRow[]).map((r) => JSON.parse(String(r.payload)) as AlertEvent);
    },
    async listRunaway(filter) {
      const rows = s.listRunaway.all({ limit: clampLimit(filter.limit) });
      return (rows as SqlRow[]).map((r) => JSON.parse(String(r.payload)) as RunawayEvent);
    },
    async listDeliveries(filter) {
      const rows = s.listDeliveries.all({
        event_id: filter.eventId ?? null,
        limit: clampLimit(filter.limit),
      });
      return (rows as SqlRow[]).map(toDelivery);
    },
    async firedKeys() {
      return (s.firedKeys.all() as SqlRow[]).map((r) => ({
        policyId: String(r.policy_id),
        windowId: String(r.window_id),
        threshold: Number(r.threshold),
      }));
    },
  };
}
