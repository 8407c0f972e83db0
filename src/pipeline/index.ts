import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Denial, denial, describe } from '../errors.ts';
import { checkPrompt, matchingGuardrails, outputCeiling } from '../guardrails/rules.ts';
import type { Begin, Claim } from '../idempotency/service.ts';
import type { Ingress } from '../ingress/types.ts';
import type { CallRecord } from '../ledger/types.ts';
import { formatUsd } from '../money.ts';
import { describeAcquire } from '../ratelimit/headers.ts';
import { fail, ok, type Result } from '../result.ts';
import { backoffMs, isRetryable } from '../router/retry.ts';
import { promptHash } from '../runaway/promptHash.ts';
import { parseJsonObject, readBody, sendJson } from '../server/http.ts';
import type { Services } from '../server/services.ts';
import { CountersUnavailableError } from '../store/redis/errors.ts';
import type { AttemptTrace } from '../telemetry/index.ts';
import { type Admission, admit } from './admit.ts';
import { noteBudgetDenial, noteSettled, noteTrip } from './alerting.ts';
import { attribute } from './attribute.ts';
import { authenticate } from './authenticate.ts';
import { baseRecord, type CallContext, type Target } from './context.ts';
import { estimate } from './estimate.ts';
import { allowedRoutes, resolveTarget, targetFor } from './guard.ts';
import { rateLimitRules, rateTokens } from './rateLimit.ts';
import { buildExchange, chooseLeg } from './route.ts';
import { applySettlement, measure, noSettlement, type Settlement, settle, settledTokens } from './settle.ts';
import { forward, type UpstreamOutcome } from './upstream.ts';

/**
 * One LLM call, phase by phase (DESIGN.md "Request lifecycle"):
 *   authenticate → attribute → guard → estimate → rateLimit → reserve (degrade / reroute / queue)
 *   → upstream (retry / failover) → meter → settle → record → respond
 * A denial at any phase stops the call with its catalogued error and a $0 ledger row. Every
 * reservation (budget, rate limit, loop cap) is settled or released exactly once in `finally`.
 */
export async function handleCall(
  svc: Services,
  ingress: Ingress,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const startedAt = svc.clock();
  const callId = `call_${randomUUID()}`;
  const refuse = (d: Denial) => {
    svc.telemetry.recordRefusal(d, callId); // telemetry
    sendDenial(res, ingress, d, { 'x-tollgate-call-id': callId });
  };

  const key = authenticate(svc.keys, req.headers);
  if (!key.ok) {
    req.resume();
    return refuse(key.error);
  }
  const raw = await readBody(req, svc.config.raw.server.max_body_bytes);
  if (!raw.ok) return refuse(raw.error);
  const body = parseJsonObject(raw.value, req.headers['content-type']);
  if (!body.ok) return refuse(body.error);

  const attributed = attribute(key.value, req.headers, body.value, svc.config.attribution);
  if (!attributed.ok) return refuse(attributed.error);
  const shape = ingress.validate(body.value);
  const ctx: CallContext = {
    callId,
    attempt: 1,
    startedAt,
    endpoint: ingress.endpoint,
    headers: req.headers,
    body: body.value,
    key: key.value,
    identity: attributed.value.identity,
    requestId: attributed.value.requestId,
    sessionId: attributed.value.sessionId,
    stream: shape.ok ? shape.value.stream : false,
    clientWantsUsage: shape.ok ? shape.value.clientWantsUsage : false,
  };
  if (!shape.ok) return void deny(svc, res, ingress, ctx, null, shape.error);
  const suspended = svc.runaway.check(key.value.id, startedAt);
  if (suspended.suspended) {
    const until = new Date(suspended.untilMs).toISOString();
    return void deny(
      svc,
      res,
      ingress,
      ctx,
      null,
      denial('key_suspended', `Key suspended by runaway detection until ${until}: ${suspended.reason}`, {
        headers: {
          'retry-after': String(Math.max(1, Math.ceil((suspended.untilMs - startedAt) / 1000))),
          'x-tollgate-suspended-until': until,
        },
      }),
    );
  }

  const idem = await beginIdempotent(svc, key.value.id, req.headers['idempotency-key'], ingress, raw.value);
  if (idem.kind === 'replay') {
    const a = idem.answer;
    if (!res.destroyed) {
      res.writeHead(a.status, {
        ...a.headers,
        'x-tollgate-idempotent-replay': 'true',
        'content-length': a.body.length,
      });
      res.end(a.body);
    }
    return;
  }
  const idemDenial = idempotencyDenial(idem);
  if (idemDenial) return void deny(svc, res, ingress, ctx, null, idemDenial);
  const claim = idem.kind === 'new' ? idem.claim : null;
  let stored = false;
  try {
    stored = await guardAndRun(svc, ingress, res, ctx, raw.value.length, claim);
  } finally {
    if (claim && !stored) await svc.idempotency.abandon(claim);
  }
}

type IdempotencyStart = Begin | { kind: 'unavailable' };

/** An Idempotency-Key whose store cannot answer (PostgreSQL down in cluster mode) refuses the call: 503. */
async function beginIdempotent(
  svc: Services,
  keyId: string,
  header: string | string[] | undefined,
  ingress: Ingress,
  rawBody: Buffer,
): Promise<IdempotencyStart> {
  try {
    return await svc.idempotency.begin(keyId, header, ingress.endpoint, rawBody);
  } catch (err) {
    svc.log.error({ err }, 'Idempotency-Key store unavailable; refusing the call');
    return { kind: 'unavailable' };
  }
}

/** Why an Idempotency-Key stops this call, if it does. */
function idempotencyDenial(idem: IdempotencyStart): Denial | null {
  switch (idem.kind) {
    case 'unavailable':
      return denial(
        'store_unavailable',
        'The Idempotency-Key store is unavailable; the call was not forwarded.',
        { headers: { 'retry-after': '1' } },
      );
    case 'invalid':
      return denial('invalid_request', idem.message, { param: 'Idempotency-Key' });
    case 'conflict':
      return denial(
        'idempotency_conflict',
        'This Idempotency-Key was already used with a different request body. Use a new key for a new request.',
      );
    case 'in_progress':
      return denial(
        'idempotency_in_progress',
        'A request with this Idempotency-Key is still running; retry when it has finished.',
        { headers: { 'retry-after': '1' } },
      );
    default:
      return null;
  }
}

/** From the model's target to the response; returns whether an idempotent answer was stored. */
async function guardAndRun(
  svc: Services,
  ingress: Ingress,
  res: ServerResponse,
  ctx: CallContext,
  bodyBytes: number,
  claim: Claim | null,
): Promise<boolean> {
  const resolved = resolveTarget(
    svc.config,
    svc.prices,
    ctx.key,
    ctx.identity.model,
    ctx.body,
    ingress.outputFields,
  );
  if (!resolved.ok) return deny(svc, res, ingress, ctx, null, resolved.error);
  let target = resolved.value;
  ctx.identity = { ...ctx.identity, model: target.model.id, provider: target.provider.id };

  const guardrails = matchingGuardrails(svc.guardrails, ctx.identity);
  const ceiling = outputCeiling(guardrails);
  if (ceiling && ingress.maxOutput(ctx.body, target.model.maxOutputTokens) > ceiling.tokens) {
    ingress.setMaxOutput(ctx.body, ceiling.tokens);
  }
  const est = estimate(ingress, ctx.body, target);
  const prompt = checkPrompt(guardrails, bodyBytes, est.inputTokens);
  if (!prompt.ok) return deny(svc, res, ingress, ctx, target, denial('prompt_too_large', prompt.message));

  const trip = svc.runaway.observePrompt(
    ctx.key.id,
    ctx.identity.feature,
    promptHash(ctx.body),
    ctx.startedAt,
  );
  if (trip) {
    noteTrip(svc, trip, ctx);
    if (trip.untilMs !== null) {
      const until = new Date(trip.untilMs).toISOString();
      return deny(
        svc,
        res,
        ingress,
        ctx,
        target,
        denial('key_suspended', `Key suspended by runaway detection until ${until}: ${trip.reason}`, {
          headers: {
            'retry-after': String(Math.max(1, Math.ceil((trip.untilMs - ctx.startedAt) / 1000))),
            'x-tollgate-suspended-until': until,
          },
        }),
      );
    }
  }

  const rules = rateLimitRules(svc, ctx);
  const acquired = await counted(() =>
    svc.rateLimiter.acquire(ctx.callId, rules, rateTokens(ingress, ctx, est, rules), svc.clock(), {
      failOpen: () => budgetsFailOpen(svc, ctx),
    }),
  );
  if (!acquired.ok) return deny(svc, res, ingress, ctx, target, acquired.error);
  const rate = describeAcquire(acquired.value);
  if (!rate.ok) {
    return deny(
      svc,
      res,
      ingress,
      ctx,
      target,
      denial('rate_limited', rate.message, { headers: rate.headers, policyId: rate.ruleId }),
    );
  }
  const loop = svc.loopGuard.admit(
    guardrails,
    { requestId: ctx.requestId, sessionId: ctx.sessionId },
    est.worstNanos,
    svc.clock(),
  );
  if (!loop.ok) {
    await svc.rateLimiter.cancel(ctx.callId, svc.clock()).catch(() => false);
    return deny(
      svc,
      res,
      ingress,
      ctx,
      target,
      denial('loop_cap_exceeded', loop.message, {
        headers: {
          'x-tollgate-guardrail': loop.ruleId,
          'retry-after': String(Math.max(1, Math.ceil(loop.retryAfterMs / 1000))),
        },
      }),
    );
  }

  let spent = 0;
  let tokens = 0;
  let forwarded = false;
  try {
    const retries = svc.config.raw.routing.retries;
    let estNow = est;
    let lastProvider: string | null = null;
    for (let attempt = 1; ; attempt++) {
      ctx.attempt = attempt;
      const reservationId = `${ctx.callId}#${attempt}`;
      const reserved = await counted(() =>
        admit({
          svc,
          ingress,
          ctx,
          target,
          estimate: estNow,
          reservationId,
          onClientGone: (abort) => res.once('close', abort),
        }),
      );
      if (!reserved.ok) {
        // A reserve whose answer was lost may still be open in the store: close it for sure.
        await svc.closes.release(reservationId);
        deny(svc, res, ingress, ctx, target, reserved.error, attempt > 1 ? 'failover' : null);
        return false;
      }
      const admission = reserved.value;
      if (!admission.ok) {
        void noteBudgetDenial(svc, admission.error, target, estNow).catch(() => undefined);
        deny(svc, res, ingress, ctx, target, admission.error, attempt > 1 ? 'failover' : null);
        return false;
      }
      const provider = admission.value.target.provider.id;
      const moved = lastProvider === null ? [] : [provider === lastProvider ? 'retry' : 'failover'];
      lastProvider = provider;
      const result = await runAttempt(
        svc,
        res,
        ingress,
        ctx,
        admission.value,
        rate.headers,
        moved,
        claim !== null,
        (answer) => respond(svc, res, ingress, ctx, answer, claim),
      );
      forwarded = true;
      spent += result.settlement.cost;
      tokens += settledTokens(result.settlement.usage);
      const { outcome } = result;
      if (
        outcome.kind === 'failed' &&
        !outcome.responded &&
        attempt < retries.max_attempts &&
        !res.destroyed &&
        isRetryable(outcome.denial, retries)
      ) {
        const wait = backoffMs(attempt, retries, outcome.denial.headers?.['retry-after']);
        if (wait !== null) {
          if (!(await sleepUnlessClosed(res, wait))) return false;
          target = nextRoute(svc, ctx, admission.value.target);
          estNow = estimate(ingress, ctx.body, target);
          continue;
        }
      }
      return result.answered ?? respond(svc, res, ingress, ctx, result, claim);
    }
  } finally {
    const now = svc.clock();
    // A lost close only delays the slot until its lease ends; never fail the call for it.
    await (forwarded
      ? svc.rateLimiter.settle(ctx.callId, tokens, now)
      : svc.rateLimiter.cancel(ctx.callId, now)
    ).catch((err: unknown) => svc.log.warn({ err, callId: ctx.callId }, 'rate limit close failed'));
    svc.loopGuard.settle(loop.hold, spent);
  }
}

interface Answer {
  outcome: UpstreamOutcome;
  settlement: Settlement;
  headers: Record<string, string>;
  /** Stream bytes sent to the client, kept for an idempotent replay (null when not kept). */
  streamed: Buffer[] | null;
}

interface AttemptResult extends Answer {
  /** Set when a successful attempt already answered the client: whether the answer was stored. */
  answered: boolean | null;
}

/** One upstream attempt under its own reservation and its own ledger row (same call id, attempt n). */
async function runAttempt(
  svc: Services,
  res: ServerResponse,
  ingress: Ingress,
  ctx: CallContext,
  admission: Admission,
  rateHeaders: Record<string, string>,
  moved: string[],
  keepStream: boolean,
  answer: (a: Answer) => Promise<boolean>,
): Promise<AttemptResult> {
  const { target, reservation, estimate: est } = admission;
  const row = baseRecord(ctx, target);
  row.reserved = reservation.amount.nanos;
  row.reservedTokens = reservation.amount.tokens;
  row.leaseUntil = ctx.startedAt + svc.config.raw.ledger.lease_ms;
  row.fallbackFrom = admission.fallbackFrom;
  row.queueMs = admission.queueMs;
  const actions = [...admission.actions, ...moved];
  // Admitted against this replica's outage allowance while the shared counters were down.
  if (svc.budgets.counters.admittedLocally?.(reservation.id)) actions.push('admitted_fail_open');
  row.action = actions.length > 0 ? actions.join(',') : null;
  const headers = responseHeaders(ctx, admission, rateHeaders, actions);

  const leg = chooseLeg(ingress, target);
  let closed = false;
  let trace: AttemptTrace | undefined; // telemetry
  let finishReasons: readonly string[] = []; // telemetry
  /** Set once the client has its answer: a ledger flush then waits for this call's final row. */
  let finalDue: (() => void) | null = null;
  const close = (final: CallRecord) => {
    if (closed) return;
    closed = true;
    svc.ledger.writeFinal(final);
    finalDue?.();
    trace?.end(final, { finishReasons }); // telemetry
    svc.telemetry.recordFinal(final, ctx.body); // telemetry
  };
  const none = noSettlement();
  try {
    if (!leg.ok) {
      await svc.closes.release(reservation.id);
      close({
        ...row,
        status: 'denied',
        tsEnd: svc.clock(),
        httpStatus: describe(leg.error.code).status,
        errorCode: leg.error.code,
      });
      return {
        outcome: failedBeforeSend(leg.error),
        settlement: none,
        headers,
        streamed: null,
        answered: null,
      };
    }
    try {
      await svc.ledger.writePending({ ...row });
    } catch (err) {
      svc.log.error({ err, callId: ctx.callId }, 'ledger unavailable; refusing the call');
      await svc.closes.release(reservation.id);
      closed = true;
      const d = denial('store_unavailable', 'The ledger is unavailable; the call was not forwarded.');
      return { outcome: failedBeforeSend(d), settlement: none, headers, streamed: null, answered: null };
    }
    const opts = { stream: ctx.stream, clientWantsUsage: ctx.clientWantsUsage };
    const encoderContext = {
      model: target.model.id,
      clientWantsUsage: ctx.clientWantsUsage,
      estimatedInputTokens: est.inputTokens,
    };
    const exchange = await buildExchange(ingress, target, leg.value, ctx.body, opts, encoderContext);
    const streamed: Buffer[] | null = keepStream && ctx.stream ? [] : null;
    trace = svc.telemetry.startAttempt({
      row,
      provider: target.provider,
      upstreamModel: target.model.upstreamModel,
      clientHeaders: ctx.headers,
    }); // telemetry
    const outcome = await forward({
      clients: svc.upstream,
      target,
      exchange,
      stream: ctx.stream,
      streamErrorEvent: ingress.streamError,
      res,
      clientHeaders: ctx.headers,
      traceHeaders: trace.upstreamHeaders, // telemetry
      responseHeaders: headers,
      startedAt: ctx.startedAt,
      clock: svc.clock,
      capture: streamed ? (chunk) => streamed.push(chunk) : undefined,
    });
    finishReasons = outcome.finishReasons; // telemetry
    const settlement = measure(outcome, est, target);
    // A success is final (never retried), so the client gets it now: settling, the ledger row
    // and telemetry below stay off its path.
    let answered: boolean | null = null;
    if (outcome.kind === 'ok') {
      finalDue = svc.ledger.expectFinal();
      try {
        answered = await answer({ outcome, settlement, headers, streamed });
      } catch (err) {
        // Answering must not stop the books from closing: logged, and the call settles.
        svc.log.error({ err, callId: ctx.callId }, 'could not answer the client');
        answered = false;
      }
    }
    await settle(svc.closes, reservation, settlement);
    noteSettled(svc, ctx, reservation, settlement.cost);
    applySettlement(row, settlement);
    row.tsEnd = svc.clock();
    row.latencyMs = row.tsEnd - ctx.startedAt;
    row.ttftMs = outcome.ttftMs;
    row.leaseUntil = null;
    switch (outcome.kind) {
      case 'ok':
        row.status = 'ok';
        row.httpStatus = 200;
        break;
      case 'client_aborted':
        row.status = 'client_aborted';
        row.httpStatus = 499;
        row.errorCode = 'client_aborted';
        break;
      case 'failed':
        row.status = 'upstream_error';
        row.httpStatus = outcome.responded ? 200 : describe(outcome.denial.code).status;
        row.errorCode = outcome.denial.code;
        break;
    }
    close(row);
    return { outcome, settlement, headers, streamed, answered };
  } finally {
    if (!closed) {
      // An unexpected throw between reserve and settle: never leak the reservation.
      await svc.closes.release(reservation.id);
      svc.queue.notify();
      close({
        ...row,
        status: 'upstream_error',
        errorCode: 'internal_error',
        tsEnd: svc.clock(),
        leaseUntil: null,
      });
    }
  }
}

/** Every hard budget of the call fails open while the shared store is down (and there is one). */
function budgetsFailOpen(svc: Services, ctx: CallContext): boolean {
  const hard = svc.budgets.match(ctx.identity).filter((p) => p.mode === 'hard');
  return hard.length > 0 && hard.every((p) => p.storeDown?.mode === 'open');
}

/**
 * Runs a call against the shared counters; when their store cannot answer (Redis down in
 * cluster mode) the call fails closed with a clear 503 instead of running unbudgeted.
 */
async function counted<T>(run: () => Promise<T>): Promise<Result<T>> {
  try {
    return ok(await run());
  } catch (err) {
    if (err instanceof CountersUnavailableError) {
      return fail(
        denial(
          'store_unavailable',
          `Budget counters are unavailable (${err.reason}); the call was not forwarded.`,
          {
            headers: { 'retry-after': '1' },
          },
        ),
      );
    }
    throw err;
  }
}

/** Sends the attempt that ended the call; stores it for Idempotency-Key replays when it succeeded. */
async function respond(
  svc: Services,
  res: ServerResponse,
  ingress: Ingress,
  ctx: CallContext,
  result: Answer,
  claim: Claim | null,
): Promise<boolean> {
  const { outcome, headers } = result;
  if (outcome.kind === 'failed') {
    if (!outcome.responded) sendDenial(res, ingress, outcome.denial, headers);
    return false;
  }
  if (outcome.kind !== 'ok') return false;
  if (outcome.json) {
    const all = {
      'content-type': 'application/json',
      ...headers,
      'x-tollgate-cost-usd': formatUsd(result.settlement.cost),
    };
    // Stored before it is sent: a retry the client makes on another replica replays it.
    const stored = await store(svc, claim, ctx, all, outcome.json);
    if (!res.destroyed) {
      res.writeHead(200, { ...all, 'content-length': outcome.json.length });
      res.end(outcome.json);
    }
    return stored;
  }
  if (result.streamed) {
    const all = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...headers,
    };
    return store(svc, claim, ctx, all, Buffer.concat(result.streamed));
  }
  return false;
}

async function store(
  svc: Services,
  claim: Claim | null,
  ctx: CallContext,
  headers: Record<string, string>,
  body: Buffer,
): Promise<boolean> {
  if (!claim || body.length > svc.idempotency.maxResponseBytes) return false;
  try {
    await svc.idempotency.complete(claim, ctx.callId, 200, headers, body);
    return true;
  } catch (err) {
    svc.log.warn({ err, callId: ctx.callId }, 'could not store the answer for Idempotency-Key replay');
    return false;
  }
}

function responseHeaders(
  ctx: CallContext,
  admission: Admission,
  rateHeaders: Record<string, string>,
  actions: string[],
): Record<string, string> {
  const h: Record<string, string> = {
    ...rateHeaders,
    'x-tollgate-call-id': ctx.callId,
    'x-tollgate-reserved-usd': formatUsd(admission.reservation.amount.nanos),
    'x-tollgate-model': admission.target.model.id,
    'x-tollgate-provider': admission.target.provider.id,
  };
  if (ctx.attempt > 1) h['x-tollgate-attempt'] = String(ctx.attempt);
  if (admission.reservation.clampedTo !== null)
    h['x-tollgate-max-tokens-clamped'] = String(admission.reservation.clampedTo);
  if (actions.length > 0) h['x-tollgate-route'] = actions.join(',');
  if (actions.includes('degraded') && admission.fallbackFrom)
    h['x-tollgate-degraded-from'] = admission.fallbackFrom;
  if (actions.includes('rerouted') && admission.fallbackFrom)
    h['x-tollgate-rerouted-from'] = admission.fallbackFrom;
  if (admission.queueMs !== null) h['x-tollgate-queue-wait-ms'] = String(admission.queueMs);
  return h;
}

/** Failover order: the next provider of the same model after the one that failed, else the same one. */
function nextRoute(svc: Services, ctx: CallContext, failed: Target): Target {
  const routes = allowedRoutes(svc.config, ctx.key, failed.model.id);
  const i = routes.findIndex((r) => r.provider === failed.provider.id);
  for (let step = 1; step <= routes.length; step++) {
    const next = routes[(i + step) % routes.length];
    if (!next) continue;
    const t = targetFor(svc.config, svc.prices, next);
    if (t.ok) return t.value;
  }
  return failed;
}

function sleepUnlessClosed(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(true);
    }, ms);
    res.once('close', onClose);
  });
}

function failedBeforeSend(d: Denial): UpstreamOutcome {
  return { kind: 'failed', denial: d, generatedText: '', ttftMs: null, responded: false, finishReasons: [] };
}

function sendDenial(res: ServerResponse, ingress: Ingress, d: Denial, headers: Record<string, string>): void {
  const r = ingress.errorResponse(d);
  sendJson(res, r.status, r.body, { ...r.headers, ...headers });
}

/** A call refused before it reached the provider still gets its ledger row, at $0. */
function deny(
  svc: Services,
  res: ServerResponse,
  ingress: Ingress,
  ctx: CallContext,
  target: Target | null,
  d: Denial,
  action: string | null = null,
): false {
  const row = baseRecord(ctx, target);
  row.status = 'denied';
  row.tsEnd = svc.clock();
  row.latencyMs = row.tsEnd - ctx.startedAt;
  row.httpStatus = describe(d.code).status;
  row.errorCode = d.code;
  row.denialPolicy = d.policyId ?? null;
  row.action = action;
  const waited = d.headers?.['x-tollgate-queue-wait-ms'];
  if (waited !== undefined) row.queueMs = Number(waited);
  svc.ledger.writeFinal(row);
  svc.telemetry.recordFinal(row, ctx.body); // telemetry
  sendDenial(res, ingress, d, { 'x-tollgate-call-id': ctx.callId });
  return false;
}
