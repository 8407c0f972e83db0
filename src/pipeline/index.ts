import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Denial, denial, describe } from '../errors.ts';
import type { Ingress } from '../ingress/types.ts';
import type { CallRecord } from '../ledger/types.ts';
import { formatUsd } from '../money.ts';
import { parseJsonObject, readBody, sendJson } from '../server/http.ts';
import type { Services } from '../server/services.ts';
import { attribute } from './attribute.ts';
import { authenticate } from './authenticate.ts';
import { baseRecord, type CallContext, type Reservation, type Target } from './context.ts';
import { estimate } from './estimate.ts';
import { resolveTarget } from './guard.ts';
import { reserve } from './reserve.ts';
import { buildExchange, chooseLeg, type Leg } from './route.ts';
import { applySettlement, measure, settle } from './settle.ts';
import { forward } from './upstream.ts';

/**
 * One chat-completions call, phase by phase:
 *   authenticate → attribute → guard → estimate → reserve → (pending row) → upstream → meter → settle → record → respond
 * A denial at any phase stops the call; after `reserve` the reservation is settled or released
 * exactly once in `finally`, whatever happens upstream or to the client.
 */
export async function handleCall(
  svc: Services,
  ingress: Ingress,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const startedAt = svc.clock();
  const callId = `call_${randomUUID()}`;
  const callHeaders = { 'x-tollgate-call-id': callId };
  const refuse = (d: Denial) => sendDenial(res, ingress, d, callHeaders);

  const key = authenticate(svc.keys, req.headers);
  if (!key.ok) {
    req.resume();
    return refuse(key.error);
  }
  const raw = await readBody(req, svc.config.raw.server.max_body_bytes);
  if (!raw.ok) return refuse(raw.error);
  const body = parseJsonObject(raw.value, req.headers['content-type']);
  if (!body.ok) return refuse(body.error);

  const attributed = attribute(key.value, req.headers, body.value);
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
  if (!shape.ok) return deny(svc, res, ingress, ctx, null, shape.error);

  const target = resolveTarget(
    svc.config,
    svc.prices,
    ctx.key,
    ctx.identity.model,
    ctx.body,
    ingress.outputFields,
  );
  if (!target.ok) return deny(svc, res, ingress, ctx, null, target.error);
  ctx.identity = { ...ctx.identity, model: target.value.model.id, provider: target.value.provider.id };
  const leg = chooseLeg(ingress, target.value);
  if (!leg.ok) return deny(svc, res, ingress, ctx, target.value, leg.error);

  const est = estimate(ingress, ctx.body, target.value);
  const reservation = reserve(svc.budgets, {
    reservationId: `${callId}#${ctx.attempt}`,
    identity: ctx.identity,
    target: target.value,
    estimate: est,
    nowMs: startedAt,
    minClampedOutput: svc.config.raw.min_clamped_output_tokens,
    clampTo: (tokens) => ingress.setMaxOutput(ctx.body, tokens),
  });
  if (!reservation.ok) return deny(svc, res, ingress, ctx, target.value, reservation.error);
  await runReserved(svc, res, ingress, leg.value, ctx, target.value, est, reservation.value);
}

function sendDenial(res: ServerResponse, ingress: Ingress, d: Denial, headers: Record<string, string>): void {
  const r = ingress.errorResponse(d);
  sendJson(res, r.status, r.body, { ...r.headers, ...headers });
}

async function runReserved(
  svc: Services,
  res: ServerResponse,
  ingress: Ingress,
  leg: Leg,
  ctx: CallContext,
  target: Target,
  est: ReturnType<typeof estimate>,
  reservation: Reservation,
): Promise<void> {
  const row = baseRecord(ctx, target);
  row.reserved = reservation.amount.nanos;
  row.reservedTokens = reservation.amount.tokens;
  row.leaseUntil = ctx.startedAt + svc.config.raw.ledger.lease_ms;
  const headers: Record<string, string> = {
    'x-tollgate-call-id': ctx.callId,
    'x-tollgate-reserved-usd': formatUsd(reservation.amount.nanos),
  };
  if (reservation.clampedTo !== null)
    headers['x-tollgate-max-tokens-clamped'] = String(reservation.clampedTo);

  let closed = false;
  const close = (final: CallRecord) => {
    if (closed) return;
    closed = true;
    svc.ledger.writeFinal(final);
  };
  try {
    try {
      await svc.ledger.writePending({ ...row });
    } catch (err) {
      svc.log.error({ err, callId: ctx.callId }, 'ledger unavailable; refusing the call');
      svc.budgets.counters.release(reservation.id);
      closed = true;
      return sendDenial(
        res,
        ingress,
        denial('store_unavailable', 'The ledger is unavailable; the call was not forwarded.'),
        headers,
      );
    }
    const opts = { stream: ctx.stream, clientWantsUsage: ctx.clientWantsUsage };
    const encoderContext = {
      model: ctx.identity.model,
      clientWantsUsage: ctx.clientWantsUsage,
      estimatedInputTokens: est.inputTokens,
    };
    const exchange = await buildExchange(ingress, target, leg, ctx.body, opts, encoderContext);
    const outcome = await forward({
      clients: svc.upstream,
      target,
      exchange,
      stream: ctx.stream,
      streamErrorEvent: ingress.streamError,
      res,
      clientHeaders: ctx.headers,
      responseHeaders: headers,
      startedAt: ctx.startedAt,
      clock: svc.clock,
    });
    const settlement = measure(outcome, est, target);
    settle(svc.budgets.counters, reservation, settlement);
    applySettlement(row, settlement);
    row.tsEnd = svc.clock();
    row.latencyMs = row.tsEnd - ctx.startedAt;
    row.ttftMs = outcome.ttftMs;
    row.leaseUntil = null;
    switch (outcome.kind) {
      case 'ok':
        row.status = 'ok';
        row.httpStatus = 200;
        if (outcome.json) {
          sendBuffer(res, outcome.json, { ...headers, 'x-tollgate-cost-usd': formatUsd(settlement.cost) });
        }
        break;
      case 'client_aborted':
        row.status = 'client_aborted';
        row.httpStatus = 499;
        row.errorCode = 'client_aborted';
        break;
      case 'failed': {
        row.status = 'upstream_error';
        row.httpStatus = outcome.responded ? 200 : describe(outcome.denial.code).status;
        row.errorCode = outcome.denial.code;
        if (!outcome.responded) sendDenial(res, ingress, outcome.denial, headers);
        break;
      }
    }
    close(row);
  } finally {
    if (!closed) {
      // An unexpected throw between reserve and settle: never leak the reservation.
      svc.budgets.counters.release(reservation.id);
      close({
        ...row,
        status: 'upstream_error',
        errorCode: 'internal_error',
        tsEnd: svc.clock(),
        leaseUntil: null,
      });
      if (!res.headersSent)
        sendDenial(
          res,
          ingress,
          denial('internal_error', 'Internal error while handling the call.'),
          headers,
        );
    }
  }
}

function sendBuffer(res: ServerResponse, body: Buffer, headers: Record<string, string>): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, ...headers });
  res.end(body);
}

/** A call refused before it reached the provider still gets its ledger row, at $0. */
function deny(
  svc: Services,
  res: ServerResponse,
  ingress: Ingress,
  ctx: CallContext,
  target: Target | null,
  d: Denial,
): void {
  const row = baseRecord(ctx, target);
  row.status = 'denied';
  row.tsEnd = svc.clock();
  row.latencyMs = row.tsEnd - ctx.startedAt;
  row.httpStatus = describe(d.code).status;
  row.errorCode = d.code;
  row.denialPolicy = d.policyId ?? null;
  svc.ledger.writeFinal(row);
  sendDenial(res, ingress, d, { 'x-tollgate-call-id': ctx.callId });
}
