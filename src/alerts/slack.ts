import { usdToNanos } from '../money.ts';
import { durationText, usdPerMin } from '../runaway/describe.ts';
import type { AlertEvent, RunawayEvent } from './events.ts';

/** A Slack incoming-webhook body (also accepted by Mattermost, Rocket.Chat, Discord's /slack). */
export interface SlackPayload {
  /** Plain fallback shown in notifications and by clients without blocks. */
  text: string;
  blocks?: SlackBlock[];
}

export type SlackBlock =
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

/** "Budget search-prod-monthly reached 80% (USD 400.00 of 500.00) — window 2026-11 (Europe/Berlin)" */
export function alertText(event: AlertEvent): string {
  const amounts = limitedAmounts(event);
  const detail = amounts.length > 0 ? ` (${amounts.join('; ')})` : '';
  const denied = event.reason === 'denied' ? ' — calls are being denied' : '';
  return `Budget ${event.policyId} reached ${percent(event.threshold)}${detail} — window ${event.windowLabel}${denied}`;
}

export function slackPayload(event: AlertEvent): SlackPayload {
  const text = alertText(event);
  const mode = event.mode === 'hard' ? 'hard budget (enforced)' : 'soft budget (alert only)';
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `:warning: ${escapeMrkdwn(text)}` } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: escapeMrkdwn(`${mode} · event ${event.id} · ${event.at}`),
          },
        ],
      },
    ],
  };
}

/**
 * "Runaway detected on key key_abc (team search, project web, prod): spent $10.50/min, above 10×
 * its baseline $1.00/min — key suspended until 2026-11-23T12:00:00Z"
 */
export function runawayText(event: RunawayEvent): string {
  const subject =
    event.feature === null ? `key ${event.keyId}` : `feature ${event.feature} of key ${event.keyId}`;
  const owner = `team ${event.team}, project ${event.project}, ${event.env}`;
  const outcome =
    event.suspendedUntil === null
      ? 'alert only, the key is not suspended'
      : `key suspended until ${event.suspendedUntil.replace(/\.000Z$/, 'Z')}`;
  return `Runaway detected on ${subject} (${owner}): ${whatHappened(event)} — ${outcome}`;
}

export function runawaySlackPayload(event: RunawayEvent): SlackPayload {
  const text = runawayText(event);
  const kind = event.kind === 'velocity' ? 'spend velocity' : 'repeated prompt';
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `:rotating_light: ${escapeMrkdwn(text)}` } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: escapeMrkdwn(`${kind} · org ${event.org} · event ${event.id} · ${event.at}`),
          },
        ],
      },
    ],
  };
}

function whatHappened(event: RunawayEvent): string {
  if (event.kind === 'repeats') {
    const d = event.detail;
    return `sent the same prompt ${count(d.count)} times within ${durationText(d.windowMs)} (limit ${count(d.maxIdentical)})`;
  }
  const d = event.detail;
  const spent = `spent ${rate(d.currentUsdPerMin)}`;
  if (d.warmingUp)
    return `${spent}, above ${rate(d.thresholdUsdPerMin)}, the ceiling while it has no baseline yet`;
  return `${spent}, above ${d.factor}× its baseline ${rate(d.baselineUsdPerMin)}`;
}

/** "$10.50/min", worded like the detector's own reason; the event's exact decimal if it cannot be read. */
function rate(usd: string): string {
  try {
    return usdPerMin(usdToNanos(usd));
  } catch {
    return `$${usd}/min`;
  }
}

function limitedAmounts(event: AlertEvent): string[] {
  const out: string[] = [];
  if (event.limitUsd !== null) out.push(`USD ${cents(event.spentUsd)} of ${cents(event.limitUsd)}`);
  if (event.limitTokens !== null)
    out.push(`${count(event.spentTokens)} of ${count(event.limitTokens)} tokens`);
  if (event.limitRequests !== null)
    out.push(`${count(event.spentRequests)} of ${count(event.limitRequests)} requests`);
  return out;
}

/** A decimal USD string to two decimals, rounded down so a message never overstates spend. */
function cents(usd: string): string {
  const total = BigInt(usdToNanos(usd)) / 10_000_000n;
  return `${total / 100n}.${(total % 100n).toString().padStart(2, '0')}`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** 0.8 → "80%", 0.333 → "33.3%"; rounded to 0.01% to hide binary-fraction noise. */
function percent(fraction: number): string {
  return `${Math.round(fraction * 10_000) / 100}%`;
}

function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
