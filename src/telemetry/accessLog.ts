import type { Logger } from 'pino';
import type { CallRecord } from '../ledger/types.ts';
import { formatUsd } from '../money.ts';
import type { TelemetryConfig } from './config.ts';
import { budgetDecision } from './genai.ts';

/**
 * Paths pino redacts on every gateway log line: credentials in headers, and any field named
 * key or secret (one and two levels deep; pino paths have no "any depth" wildcard).
 */
export const LOG_REDACT_PATHS = [
  'key',
  'secret',
  '*.key',
  '*.secret',
  '*.*.key',
  '*.*.secret',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["api-key"]',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["api-key"]',
];

/** The access logger's own redaction (a child's `redact` replaces its parent's). */
const ACCESS_REDACT_PATHS = ['key', 'secret'];

/**
 * One JSON line per final ledger row (a call, or each attempt of a retried call) at info level.
 * Identity, models, outcome, cost and timings only: prompts are logged solely for projects that
 * opted in, cut to `max_bytes`; completions and API keys never are.
 */
export class AccessLog {
  private readonly log: Logger;
  private readonly promptProjects: ReadonlySet<string>;
  private readonly maxPromptBytes: number;

  constructor(log: Logger, config: TelemetryConfig['logs']) {
    // The access line is flat and never carries headers: top-level paths suffice, and they keep
    // the line cheap (the wildcard paths of LOG_REDACT_PATHS cost ~35 µs per line).
    this.log = log.child({ kind: 'access' }, { redact: ACCESS_REDACT_PATHS });
    this.promptProjects = new Set(config.prompts.projects);
    this.maxPromptBytes = config.prompts.max_bytes;
  }

  record(row: CallRecord, body: unknown): void {
    if (!this.log.isLevelEnabled('info')) return;
    const line: Record<string, unknown> = {
      callId: row.callId,
      attempt: row.attempt,
      requestId: row.requestId,
      keyId: row.keyId,
      team: row.team,
      project: row.project,
      env: row.env,
      feature: row.feature,
      endpoint: row.endpoint,
      stream: row.stream,
      modelRequested: row.modelRequested,
      model: row.modelUsed,
      provider: row.provider,
      status: row.status,
      httpStatus: row.httpStatus,
      errorCode: row.errorCode,
      denialPolicy: row.denialPolicy,
      route: row.action,
      decision: budgetDecision(row),
      inputTokens: row.inputTokens,
      outputTokens: row.outputTokens,
      usageSource: row.usageSource,
      costUsd: formatUsd(row.cost),
      reservedUsd: formatUsd(row.reserved),
      latencyMs: row.latencyMs,
      ttftMs: row.ttftMs,
    };
    if (body !== undefined && this.promptProjects.has(row.project)) {
      Object.assign(line, truncated(JSON.stringify(body) ?? '', this.maxPromptBytes));
    }
    this.log.info(line, 'call');
  }

  /** A call refused before it had an identity: what was wrong, never what was sent. */
  refusal(callId: string, code: string, httpStatus: number): void {
    if (!this.log.isLevelEnabled('info')) return;
    this.log.info({ callId, status: 'denied', httpStatus, errorCode: code }, 'call');
  }
}

/** The request body cut to at most `maxBytes` of UTF-8, never splitting a character. */
export function truncated(text: string, maxBytes: number): { prompt: string; promptTruncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { prompt: text, promptTruncated: false };
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return { prompt: bytes.subarray(0, end).toString('utf8'), promptTruncated: true };
}
