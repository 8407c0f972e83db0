import { randomUUID } from 'node:crypto';
import type { Amount, BudgetPolicy, WindowBounds } from '../budget/types.ts';
import type { Trip } from '../runaway/types.ts';
import { type AlertsConfig, targetWants, type WebhookTarget } from './config.ts';
import {
  type AlertEvent,
  buildAlertEvent,
  buildRunawayEvent,
  type RunawayEvent,
  type RunawayOwner,
} from './events.ts';
import { EVENT_ID_HEADER, signedHeaders } from './sign.ts';
import { runawaySlackPayload, slackPayload } from './slack.ts';
import type { AlertStore, DeliveryAttempt } from './store.ts';
import { type AlertReason, alertWindowId, type FiredKey, FiredSet } from './thresholds.ts';

/** The slice of a pino logger the dispatcher uses. */
export interface AlertLogger {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

export interface AlertDispatcherOptions {
  /** Jitter source in [0, 1); tests pin it. */
  random?: () => number;
  fetch?: typeof fetch;
}

export interface AlertSnapshot {
  /** (policy, window, threshold) keys held in the fired set. */
  firedKeys: number;
  /** Events (budget and runaway) this process stored first (or could not store and sent anyway). */
  events: number;
  /** Deliveries (event × target) not finished yet, including those waiting to retry. */
  deliveriesInFlight: number;
  attempts: number;
  delivered: number;
  /** Deliveries that gave up: attempts exhausted, a non-retryable answer, or shutdown. */
  failed: number;
  closed: boolean;
}

interface AttemptResult {
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
  retryable: boolean;
  /** From a Retry-After header, if the receiver sent one. */
  retryAfterMs: number | null;
}

const NONE: readonly AlertEvent[] = Object.freeze([]);
const NO_THRESHOLDS: readonly number[] = Object.freeze([]);
const ERROR_SNIPPET_BYTES = 200;
const USER_AGENT = 'tollgate-alerts/1';

/**
 * Turns budget observations and runaway trips into alert events and delivers them. `observe` runs on the request
 * path: synchronous, and when nothing new is crossed it is a few comparisons and map lookups.
 * Only a new crossing builds an event; storing it and delivering it happen in the background.
 * The store's UNIQUE key decides who delivers: a restart never refires, and of several replicas
 * crossing the same threshold only the one whose insert wins sends it (the others stay quiet
 * and just remember it as fired).
 */
export class AlertDispatcher {
  private readonly fired: FiredSet;
  /** Events being stored; each then starts its deliveries (or not, if another replica won). */
  private readonly storing = new Set<Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly requests = new Set<AbortController>();
  private readonly backoffs = new Set<() => void>();
  private readonly random: () => number;
  private readonly fetch: typeof fetch;
  private closing = false;
  private readonly counts = { events: 0, attempts: 0, delivered: 0, failed: 0 };

  /** Builds a dispatcher whose fired set starts with every threshold the store says has fired. */
  static async open(
    config: AlertsConfig,
    store: AlertStore,
    clock: () => number,
    log: AlertLogger,
    options: AlertDispatcherOptions = {},
  ): Promise<AlertDispatcher> {
    return new AlertDispatcher(config, store, clock, log, await store.firedKeys(), options);
  }

  private constructor(
    private readonly config: AlertsConfig,
    private readonly store: AlertStore,
    private readonly clock: () => number,
    private readonly log: AlertLogger,
    fired: Iterable<FiredKey>,
    options: AlertDispatcherOptions,
  ) {
    this.fired = new FiredSet(fired);
    this.random = options.random ?? Math.random;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /**
   * Call after every settle with the policy's settled spend in its current window, and with
   * reason 'denied' when a hard budget refused a call because it is exhausted. Returns the
   * events this call created (usually none); each is delivered once stored, unless another
   * replica stored the same threshold first. Never throws.
   */
  observe(
    policy: BudgetPolicy,
    spent: Amount,
    window: WindowBounds,
    reason: AlertReason = 'spend',
  ): readonly AlertEvent[] {
    if (this.closing || policy.alerts.length === 0) return NONE;
    const windowId = alertWindowId(policy, window);
    const bySpend = this.fired.crossed(policy, spent, windowId);
    const byDenial = reason === 'denied' ? this.fired.crossedOnDenial(policy, windowId) : NO_THRESHOLDS;
    if (bySpend.length === 0 && byDenial.length === 0) return NONE;
    const nowMs = this.clock();
    const build = (threshold: number, why: AlertReason) =>
      buildAlertEvent({
        id: `evt_${randomUUID()}`,
        policy,
        threshold,
        windowId,
        window,
        spent,
        atMs: nowMs,
        reason: why,
      });
    const created = [...bySpend.map((t) => build(t, 'spend')), ...byDenial.map((t) => build(t, 'denied'))];
    // One after another, so a receiver hears 50% before 80%.
    this.background(async () => {
      for (const event of created) {
        const about = { eventId: event.id, policyId: policy.id };
        if (await this.persist(() => this.store.insertEvent(event, nowMs), about)) this.dispatch(event);
      }
    });
    return created;
  }

  /**
   * Reports a runaway-detection trip: builds a `runaway.tripped` event, and in the background
   * stores it and delivers it to every target without a `budgets` filter (a filtered target
   * asked for those budgets only). Synchronous and never throws: it runs on the request path.
   * Returns the event built; it is not stored or sent again when the same trip (key, kind,
   * feature, time) was already reported, nor at all once the dispatcher is closing.
   */
  notifyRunaway(trip: Trip, who: RunawayOwner): RunawayEvent {
    const event = buildRunawayEvent(`evt_${randomUUID()}`, trip, who);
    if (this.closing) {
      this.log.warn({ eventId: event.id, keyId: event.keyId }, 'runaway alert not sent: dispatcher closing');
      return event;
    }
    const nowMs = this.clock();
    this.background(async () => {
      const about = { eventId: event.id, keyId: event.keyId };
      if (await this.persist(() => this.store.insertRunaway(event, nowMs), about))
        this.dispatchRunaway(event);
    });
    return event;
  }

  /** The latest runaway events, newest first (at most 1000), for the admin API. Store errors propagate. */
  recentRunaway(limit: number): Promise<RunawayEvent[]> {
    return this.store.listRunaway({ limit });
  }

  /** Resolves when every event built so far is stored and every delivery started (and any started meanwhile) has finished. */
  async flush(): Promise<void> {
    while (this.storing.size > 0 || this.inFlight.size > 0) {
      await Promise.allSettled([...this.storing, ...this.inFlight]);
    }
  }

  /**
   * Stops alerting: later `observe` calls are no-ops, pending backoff waits end at once and
   * requests in progress are aborted (each logged as a failed attempt). Resolves once nothing is
   * in flight, so the store can be closed right after.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const wake of this.backoffs) wake();
    this.backoffs.clear();
    for (const request of this.requests) request.abort();
    await this.flush();
  }

  snapshot(): AlertSnapshot {
    return {
      firedKeys: this.fired.size(),
      events: this.counts.events,
      deliveriesInFlight: this.inFlight.size,
      attempts: this.counts.attempts,
      delivered: this.counts.delivered,
      failed: this.counts.failed,
      closed: this.closing,
    };
  }

  private background(job: () => Promise<void>): void {
    const task = job().catch((err: unknown) => this.log.warn({ err }, 'alert handling crashed'));
    this.storing.add(task);
    void task.finally(() => this.storing.delete(task));
  }

  /**
   * True if this process should deliver the event: it stored it first. False when the key was
   * already stored (a restart, or another replica that crossed the same threshold first). A store
   * failure still delivers: an alert matters more than its log.
   */
  private async persist(
    insert: () => Promise<boolean>,
    about: { eventId: string; [detail: string]: string },
  ): Promise<boolean> {
    try {
      const inserted = await insert();
      if (inserted) this.counts.events++;
      return inserted;
    } catch (err) {
      this.log.warn({ err, ...about }, 'alert event not stored');
      this.counts.events++;
      return true;
    }
  }

  private dispatch(event: AlertEvent): void {
    this.log.info(
      { eventId: event.id, policyId: event.policyId, threshold: event.threshold, reason: event.reason },
      'budget alert',
    );
    const targets = this.config.webhooks.filter((t) => targetWants(t, event.policyId));
    this.deliverAll(event.id, targets, (t) => (t.kind === 'slack' ? slackPayload(event) : event));
  }

  private dispatchRunaway(event: RunawayEvent): void {
    this.log.info(
      { eventId: event.id, keyId: event.keyId, kind: event.kind, action: event.action },
      'runaway alert',
    );
    const targets = this.config.webhooks.filter(wantsRunaway);
    this.deliverAll(event.id, targets, (t) => (t.kind === 'slack' ? runawaySlackPayload(event) : event));
  }

  private deliverAll(
    eventId: string,
    targets: readonly WebhookTarget[],
    payload: (target: WebhookTarget) => object,
  ): void {
    for (const target of targets) {
      const delivery = this.deliver(eventId, target, payload).catch((err: unknown) => {
        this.log.warn({ err, eventId, targetId: target.id }, 'alert delivery crashed');
      });
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    }
  }

  private async deliver(
    eventId: string,
    target: WebhookTarget,
    payload: (target: WebhookTarget) => object,
  ): Promise<void> {
    const body = JSON.stringify(payload(target));
    const { attempts } = this.config.retry;
    let last: AttemptResult | null = null;
    for (let attempt = 1; attempt <= attempts && !this.closing; attempt++) {
      if (attempt > 1) await this.backoff(this.backoffMs(attempt - 1, last?.retryAfterMs ?? null));
      if (this.closing) break;
      last = await this.attempt(target, eventId, body);
      await this.record({
        eventId,
        targetId: target.id,
        attempt,
        ts: this.clock(),
        ok: last.ok,
        httpStatus: last.httpStatus,
        error: last.error,
      });
      if (last.ok) {
        this.counts.delivered++;
        return;
      }
      if (!last.retryable) break;
    }
    this.counts.failed++;
    this.log.warn(
      {
        eventId,
        targetId: target.id,
        error: last?.error ?? 'not attempted',
        closing: this.closing,
      },
      'alert delivery gave up',
    );
  }

  private async attempt(target: WebhookTarget, eventId: string, body: string): Promise<AttemptResult> {
    this.counts.attempts++;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      [EVENT_ID_HEADER]: eventId,
    };
    if (target.kind === 'webhook' && target.secret !== undefined) {
      Object.assign(headers, signedHeaders(target.secret, eventId, body, Math.floor(this.clock() / 1000)));
    }
    const controller = new AbortController();
    this.requests.add(controller);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.config.timeout_ms);
    try {
      // Redirects are not followed: a signed event goes only where it was configured to go.
      const res = await this.fetch(target.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: controller.signal,
      });
      const ok = res.status >= 200 && res.status < 300;
      const snippet = ok ? '' : await readSnippet(res);
      if (ok) await res.body?.cancel();
      return {
        ok,
        httpStatus: res.status,
        error: ok ? null : `HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`,
        retryable: isRetryableStatus(res.status),
        retryAfterMs: retryAfterMs(res.headers.get('retry-after'), this.clock()),
      };
    } catch (err) {
      const error = timedOut
        ? `timeout after ${this.config.timeout_ms}ms`
        : this.closing
          ? 'aborted: alert dispatcher closing'
          : describeError(err);
      return { ok: false, httpStatus: null, error, retryable: true, retryAfterMs: null };
    } finally {
      clearTimeout(timer);
      this.requests.delete(controller);
    }
  }

  private async record(attempt: DeliveryAttempt): Promise<void> {
    try {
      await this.store.recordDelivery(attempt);
    } catch (err) {
      this.log.warn(
        { err, eventId: attempt.eventId, targetId: attempt.targetId },
        'alert delivery not logged',
      );
    }
  }

  /** Exponential, capped, with equal jitter (half fixed, half random) so retries spread out. */
  private backoffMs(failures: number, retryAfter: number | null): number {
    const { initial_backoff_ms: initial, max_backoff_ms: max } = this.config.retry;
    const base = Math.min(max, initial * 2 ** (failures - 1));
    const jittered = Math.round(base / 2 + (this.random() * base) / 2);
    return retryAfter === null ? jittered : Math.max(jittered, Math.min(retryAfter, max));
  }

  /** Waits `ms`, or less if the dispatcher closes meanwhile. */
  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.backoffs.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      // A retry waiting must not keep a process alive that is otherwise done.
      timer.unref();
      this.backoffs.add(wake);
    });
  }
}

/** A target with a `budgets` list asked for those budgets' alerts only; runaway trips belong to no budget. */
function wantsRunaway(target: WebhookTarget): boolean {
  return target.budgets === undefined;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** Retry-After as delay-seconds or an HTTP date; null if absent or unreadable. */
function retryAfterMs(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** The start of an error response, for the delivery log; never reads an unbounded body. */
async function readSnippet(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ERROR_SNIPPET_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // The body broke off; what arrived is enough for a log line.
  } finally {
    await reader.cancel().catch(() => {});
  }
  const text = Buffer.concat(chunks).toString('utf8', 0, Math.min(size, ERROR_SNIPPET_BYTES));
  return text.replace(/\s+/g, ' ').trim();
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch wraps the socket error: "fetch failed" alone says nothing.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
