import { cutConnection, type Exchange, pause, writeFlushed } from '../exchange.ts';
import { anthropicHeaders } from './errors.ts';
import type { MessagesPlan } from './plan.ts';

const SIGNATURE = 'EqQBCkgIBhABGAIiQG1vY2stdGhpbmtpbmctc2lnbmF0dXJlLW5vdC1hLXJlYWwtb25l';

function contentBlocks(plan: MessagesPlan): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  if (plan.thinking.length > 0) {
    blocks.push({ type: 'thinking', thinking: plan.thinking.join(''), signature: SIGNATURE });
  }
  if (plan.text.length > 0) blocks.push({ type: 'text', text: plan.text.join('') });
  if (plan.toolUse) blocks.push({ type: 'tool_use', ...plan.toolUse });
  return blocks;
}

/** The Message JSON answer, honouring `bad-json` (truncated), `cut` (half the body) and `no-usage`. */
export async function sendMessage(ex: Exchange, requestId: string, plan: MessagesPlan): Promise<void> {
  if (!(await pause(ex, ex.knobs.latencyMs))) return;
  const body: Record<string, unknown> = {
    id: plan.id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: contentBlocks(plan),
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    usage: plan.usage,
  };
  if (ex.knobs.fault === 'no-usage') delete body.usage;
  const bytes = Buffer.from(JSON.stringify(body));
  if (ex.closed) return;
  if (ex.knobs.fault === 'bad-json') {
    ex.res.writeHead(200, anthropicHeaders(requestId, 'application/json'));
    ex.res.end(bytes.subarray(0, -1));
    return;
  }
  ex.res.writeHead(200, anthropicHeaders(requestId, 'application/json', { 'content-length': bytes.length }));
  if (ex.knobs.fault !== 'cut') {
    ex.res.end(bytes);
    return;
  }
  await writeFlushed(ex, bytes.subarray(0, bytes.length >> 1));
  cutConnection(ex);
}

function event(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

/** Splits a tool's JSON input into pieces, as Anthropic streams it (an empty first piece included). */
function jsonPieces(json: string): string[] {
  const pieces = [''];
  for (let i = 0; i < json.length; i += 12) pieces.push(json.slice(i, i + 12));
  return pieces;
}

/**
 * The SSE events of an answer, in steps written together: [0] message_start, the first
 * content_block_start and a ping; then one step per delta (block starts and stops travel with
 * their neighbours); last message_delta (stop reason, cumulative usage) and message_stop.
 */
function streamSteps(plan: MessagesPlan, sendUsage: boolean): string[] {
  const startUsage = { ...plan.usage, output_tokens: Math.min(1, plan.usage.output_tokens) };
  const steps: string[] = [];
  let pending = event('message_start', {
    message: {
      id: plan.id,
      type: 'message',
      role: 'assistant',
      model: plan.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: startUsage,
    },
  });
  let index = 0;
  let pinged = false;
  const block = (start: Record<string, unknown>, deltas: Record<string, unknown>[], closing = '') => {
    pending += event('content_block_start', { index, content_block: start });
    if (!pinged) {
      pending += event('ping', {});
      pinged = true;
    }
    for (const delta of deltas) {
      steps.push(pending + event('content_block_delta', { index, delta }));
      pending = '';
    }
    pending += closing + event('content_block_stop', { index });
    index++;
  };
  if (plan.thinking.length > 0) {
    block(
      { type: 'thinking', thinking: '', signature: '' },
      plan.thinking.map((thinking) => ({ type: 'thinking_delta', thinking })),
      event('content_block_delta', { index, delta: { type: 'signature_delta', signature: SIGNATURE } }),
    );
  }
  if (plan.text.length > 0) {
    block(
      { type: 'text', text: '' },
      plan.text.map((text) => ({ type: 'text_delta', text })),
    );
  }
  if (plan.toolUse) {
    const { id, name, input } = plan.toolUse;
    block(
      { type: 'tool_use', id, name, input: {} },
      jsonPieces(JSON.stringify(input)).map((partial_json) => ({ type: 'input_json_delta', partial_json })),
    );
  }
  const { input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens } = plan.usage;
  const delta: Record<string, unknown> = {
    delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence },
  };
  if (sendUsage) {
    delta.usage = { input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens };
  }
  steps.push(pending + event('message_delta', delta) + event('message_stop', {}));
  return steps;
}

/** Where `bad-json` puts its broken event: a data line a JSON parser must choke on. */
const BROKEN_EVENT = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n';
/** What Anthropic sends when it runs out of capacity after the 200 went out. */
const OVERLOADED_EVENT = event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });

/**
 * Streams the answer as Anthropic's SSE events with the mock's knobs: `cut` dies after half
 * the deltas, `bad-json` slips in an unparsable event, `no-usage` leaves usage out of
 * message_delta, `stream-error` ends with an `event: error` (overloaded) after half the deltas.
 */
export async function streamMessage(ex: Exchange, requestId: string, plan: MessagesPlan): Promise<void> {
  const { knobs, res, stats } = ex;
  const steps = streamSteps(plan, knobs.fault !== 'no-usage');
  if (knobs.fault === 'bad-json') steps.splice(1, 0, BROKEN_EVENT);
  if (!(await pause(ex, knobs.ttftMs))) return;
  res.writeHead(
    200,
    anthropicHeaders(requestId, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' }),
  );
  stats.streamsStarted++;
  res.once('finish', () => stats.streamsCompleted++);
  const half = 1 + ((steps.length - 2) >> 1);
  if (knobs.fault === 'cut') {
    await writeFlushed(ex, steps.slice(0, half).join(''));
    cutConnection(ex);
    return;
  }
  if (knobs.fault === 'stream-error') {
    res.end(steps.slice(0, half).join('') + OVERLOADED_EVENT);
    return;
  }
  if (knobs.interChunkMs <= 0) {
    res.end(steps.join(''));
    return;
  }
  // The first delta leaves with message_start: ttft is the time to the first token.
  for (let i = 0; i < steps.length; i++) {
    if (i > 0 && !(await pause(ex, knobs.interChunkMs))) return;
    if (i === steps.length - 1) res.end(steps[i]);
    else res.write(steps[i]);
  }
}
