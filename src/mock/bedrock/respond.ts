import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { cutConnection, type Exchange, pause, writeFlushed } from '../exchange.ts';
import { corruptFrame, eventFrame } from './eventStream.ts';
import type { ConversePlan } from './plan.ts';

const SIGNATURE = 'EqoBCkgIARABGAIiQG1vY2stcmVhc29uaW5nLXNpZ25hdHVyZQ==';
/** Bedrock pads stream events with a "p" field of varying length (against length side channels). */
const PADDING = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function awsHeaders(contentType: string, extra?: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return {
    'content-type': contentType,
    'x-amzn-requestid': randomUUID(),
    date: new Date().toUTCString(),
    ...extra,
  };
}

/** An AWS REST-JSON error: `{message}` and the error's name in x-amzn-ErrorType. */
export function sendAwsError(ex: Exchange, status: number, type: string, message: string): void {
  if (ex.closed) return;
  ex.res.writeHead(status, awsHeaders('application/json', { 'x-amzn-errortype': type }));
  ex.res.end(JSON.stringify({ message }));
}

/** The status faults, answered after the configured latency; false when the fault is not one. */
export async function sendAwsStatusFault(ex: Exchange): Promise<boolean> {
  const fault = ex.knobs.fault;
  if (fault !== '429' && fault !== '500' && fault !== '503') return false;
  if (!(await pause(ex, ex.knobs.latencyMs))) return true;
  if (fault === '429')
    sendAwsError(ex, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.');
  else if (fault === '500') {
    sendAwsError(
      ex,
      500,
      'InternalServerException',
      'The server encountered an internal error while processing the request.',
    );
  } else {
    sendAwsError(
      ex,
      503,
      'ServiceUnavailableException',
      'The service is currently unavailable. Try again later.',
    );
  }
  return true;
}

function contentBlocks(plan: ConversePlan): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  if (plan.reasoning.length > 0) {
    blocks.push({
      reasoningContent: { reasoningText: { text: plan.reasoning.join(''), signature: SIGNATURE } },
    });
  }
  if (plan.text.length > 0) blocks.push({ text: plan.text.join('') });
  if (plan.toolUse) blocks.push({ toolUse: plan.toolUse });
  return blocks;
}

/** The Converse JSON answer, honouring `bad-json` (truncated), `cut` (half the body) and `no-usage`. */
export async function sendConverse(ex: Exchange, plan: ConversePlan): Promise<void> {
  if (!(await pause(ex, ex.knobs.latencyMs))) return;
  const body: Record<string, unknown> = {
    output: { message: { role: 'assistant', content: contentBlocks(plan) } },
    stopReason: plan.stopReason,
    usage: plan.usage,
    metrics: { latencyMs: Math.round(performance.now() - ex.startedAt) },
  };
  if (ex.knobs.fault === 'no-usage') delete body.usage;
  const bytes = Buffer.from(JSON.stringify(body));
  if (ex.closed) return;
  if (ex.knobs.fault === 'bad-json') {
    ex.res.writeHead(200, awsHeaders('application/json'));
    ex.res.end(bytes.subarray(0, -1));
    return;
  }
  ex.res.writeHead(200, awsHeaders('application/json', { 'content-length': bytes.length }));
  if (ex.knobs.fault !== 'cut') {
    ex.res.end(bytes);
    return;
  }
  await writeFlushed(ex, bytes.subarray(0, bytes.length >> 1));
  cutConnection(ex);
}

/**
 * The ConverseStream frames, in steps written together: [0] messageStart, then one step per
 * delta, last the closing events (contentBlockStop, messageStop, metadata).
 */
function streamSteps(plan: ConversePlan, sendUsage: boolean, startedAt: number): Buffer[] {
  let seq = 0;
  const frame = (type: string, body: Record<string, unknown>) =>
    eventFrame(type, { ...body, p: PADDING.slice(0, (seq++ * 7) % PADDING.length) });
  const steps: Buffer[][] = [[frame('messageStart', { role: 'assistant' })]];
  let index = 0;
  if (plan.reasoning.length > 0) {
    for (const word of plan.reasoning) {
      steps.push([
        frame('contentBlockDelta', { contentBlockIndex: index, delta: { reasoningContent: { text: word } } }),
      ]);
    }
    steps.push([
      frame('contentBlockDelta', {
        contentBlockIndex: index,
        delta: { reasoningContent: { signature: SIGNATURE } },
      }),
      frame('contentBlockStop', { contentBlockIndex: index }),
    ]);
    index++;
  }
  if (plan.text.length > 0) {
    for (const word of plan.text) {
      steps.push([frame('contentBlockDelta', { contentBlockIndex: index, delta: { text: word } })]);
    }
    steps.push([frame('contentBlockStop', { contentBlockIndex: index })]);
    index++;
  }
  if (plan.toolUse) {
    const { toolUseId, name, input } = plan.toolUse;
    steps.push([
      frame('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId, name } } }),
    ]);
    const json = JSON.stringify(input);
    // Bedrock streams tool input as JSON text in arbitrary pieces.
    for (let at = 0; at < json.length; at += 12) {
      steps.push([
        frame('contentBlockDelta', {
          contentBlockIndex: index,
          delta: { toolUse: { input: json.slice(at, at + 12) } },
        }),
      ]);
    }
    steps.push([frame('contentBlockStop', { contentBlockIndex: index })]);
  }
  const last = [frame('messageStop', { stopReason: plan.stopReason })];
  if (sendUsage) {
    last.push(
      frame('metadata', {
        usage: plan.usage,
        metrics: { latencyMs: Math.round(performance.now() - startedAt) },
      }),
    );
  }
  steps.push(last);
  return steps.map((s) => Buffer.concat(s));
}

/**
 * ConverseStream with the stream faults: `cut` dies in the middle of a frame, `bad-json`
 * corrupts a frame's CRC (then sends the rest, as a flaky network would), `no-usage` omits
 * the metadata event.
 */
export async function streamConverse(ex: Exchange, plan: ConversePlan): Promise<void> {
  const { knobs, res, stats } = ex;
  const steps = streamSteps(plan, knobs.fault !== 'no-usage', ex.startedAt);
  if (knobs.fault === 'bad-json') {
    const at = Math.min(2, steps.length - 1);
    steps[at] = corruptFrame(steps[at]!);
  }
  if (!(await pause(ex, knobs.ttftMs))) return;
  res.writeHead(200, awsHeaders('application/vnd.amazon.eventstream'));
  stats.streamsStarted++;
  res.once('finish', () => stats.streamsCompleted++);

  if (knobs.fault === 'cut') {
    // messageStart and half the deltas, then half of the next frame: the connection dies mid-frame.
    const whole = Math.max(1, steps.length >> 1);
    const next = steps[whole] ?? Buffer.alloc(0);
    await writeFlushed(ex, Buffer.concat([...steps.slice(0, whole), next.subarray(0, next.length >> 1)]));
    cutConnection(ex);
    return;
  }
  if (knobs.interChunkMs <= 0) {
    res.end(Buffer.concat(steps));
    return;
  }
  const firstBatch = Math.min(2, steps.length - 1);
  res.write(Buffer.concat(steps.slice(0, firstBatch)));
  for (let i = firstBatch; i < steps.length - 1; i++) {
    if (!(await pause(ex, knobs.interChunkMs))) return;
    res.write(steps[i]);
  }
  if (!(await pause(ex, knobs.interChunkMs))) return;
  res.end(steps[steps.length - 1]);
}
