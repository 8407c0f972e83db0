import type { Kysely, Selectable } from 'kysely';
import type { AlertEvent, RunawayEvent } from '../../alerts/events.ts';
import {
  type AlertStore,
  clampLimit,
  type DeliveryAttempt,
  RUNAWAY_PREFIX,
  runawayRow,
} from '../../alerts/store.ts';
import type { AlertDeliveriesTable, TollgateDatabase } from './schema.ts';

const toDelivery = (r: Selectable<AlertDeliveriesTable>): DeliveryAttempt => ({
  eventId: r.event_id,
  targetId: r.target_id,
  attempt: r.attempt,
  ts: r.ts,
  ok: r.ok,
  httpStatus: r.http_status,
  error: r.error,
});

/** No LIKE wildcard in the prefix, so it needs no escaping. */
const RUNAWAY_PATTERN = `${RUNAWAY_PREFIX}%`;

/**
 * The alert store shared by cluster replicas. `INSERT … ON CONFLICT DO NOTHING RETURNING`
 * makes the fired (policy, window, threshold) key a race with one winner: the replica whose row
 * comes back delivers the alert, every other one is told it already fired.
 */
export function postgresAlertStore(db: Kysely<TollgateDatabase>): AlertStore {
  const insert = async (row: {
    id: string;
    policy_id: string;
    window_id: string;
    threshold: number;
    payload: string;
    created_at: number;
  }): Promise<boolean> => {
    const inserted = await db
      .insertInto('alert_events')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted !== undefined;
  };

  return {
    insertEvent(event, createdAtMs) {
      return insert({
        id: event.id,
        policy_id: event.policyId,
        window_id: event.windowId,
        threshold: event.threshold,
        payload: JSON.stringify(event),
        created_at: createdAtMs,
      });
    },
    insertRunaway(event, createdAtMs) {
      return insert({
        id: event.id,
        ...runawayRow(event),
        threshold: 0,
        payload: JSON.stringify(event),
        created_at: createdAtMs,
      });
    },
    async recordDelivery(a) {
      await db
        .insertInto('alert_deliveries')
        .values({
          event_id: a.eventId,
          target_id: a.targetId,
          attempt: a.attempt,
          ts: a.ts,
          ok: a.ok,
          http_status: a.httpStatus,
          error: a.error,
        })
        .execute();
    },
    async listEvents(filter) {
      let q = db.selectFrom('alert_events').select('payload').where('policy_id', 'not like', RUNAWAY_PATTERN);
      if (filter.policyId !== undefined) q = q.where('policy_id', '=', filter.policyId);
      const rows = await q
        .orderBy('created_at', 'desc')
        .orderBy('seq', 'desc')
        .limit(clampLimit(filter.limit))
        .execute();
      return rows.map((r) => JSON.parse(r.payload) as AlertEvent);
    },
    async listRunaway(filter) {
      const rows = await db
        .selectFrom('alert_events')
        .select('payload')
        .where('policy_id', 'like', RUNAWAY_PATTERN)
        .orderBy('created_at', 'desc')
        .orderBy('seq', 'desc')
        .limit(clampLimit(filter.limit))
        .execute();
      return rows.map((r) => JSON.parse(r.payload) as RunawayEvent);
    },
    async listDeliveries(filter) {
      let q = db.selectFrom('alert_deliveries').selectAll();
      if (filter.eventId !== undefined) q = q.where('event_id', '=', filter.eventId);
      const rows = await q.orderBy('seq', 'desc').limit(clampLimit(filter.limit)).execute();
      return rows.map(toDelivery);
    },
    async firedKeys() {
      const rows = await db
        .selectFrom('alert_events')
        .select(['policy_id', 'window_id', 'threshold'])
        .where('policy_id', 'not like', RUNAWAY_PATTERN)
        .orderBy('created_at')
        .orderBy('seq')
        .execute();
      return rows.map((r) => ({ policyId: r.policy_id, windowId: r.window_id, threshold: r.threshold }));
    },
  };
}
