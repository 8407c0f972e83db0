import { cutConnection, type Exchange, pause, responseHeaders, writeFlushed } from '../exchange.ts';
import { finalStatus, mainItem, reasoningItem, responseObject, textPart } from './body.ts';
import { outputDeltas, outputText, type ResponsesPlan } from './plan.ts';

/** Where `bad-json` puts its broken event: a data line a JSON parser must choke on. */
const BROKEN_EVENT =
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":\n\n';

/** Numbers events in order, as OpenAI's `sequence_number` does. */
class EventWriter {
  sequence = 0;

  event(type: string, fields: Record<string, unknown>): string {
    return sseEvent(type, this.sequence++, fields);
  }
}

function sseEvent(type: string, sequence: number, fields: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...fields })}\n\n`;
}

interface Steps {
  /** Written together: [0] the opening events, [1..N] one delta each, last the closing events. */
  steps: string[];
  /** The event that ends a stream failing after half the deltas, instead of the closing events. */
  failed: string;
}

/**
 * The typed events of a streamed response: response.created / in_progress, the reasoning
 * item, the output item with its content part (text) or arguments (function call), one
 * delta per word, the *.done events, then response.completed (or response.incomplete when
 * max_output_tokens cut it) carrying the full response with usage.
 */
function streamSteps(plan: ResponsesPlan, sendUsage: boolean): Steps {
  const w = new EventWriter();
  const isCall = plan.request.forcedFunction !== null;
  const reasoning = reasoningItem(plan);
  const outputIndex = reasoning ? 1 : 0;
  const at = { item_id: plan.itemId, output_index: outputIndex };
  const text = { ...at, content_index: 0 };

  let opening = w.event('response.created', { response: responseObject(plan, 'in_progress', null) });
  opening += w.event('response.in_progress', { response: responseObject(plan, 'in_progress', null) });
  if (reasoning) {
    opening += w.event('response.output_item.added', { output_index: 0, item: reasoning });
    opening += w.event('response.output_item.done', { output_index: 0, item: reasoning });
  }
  opening += w.event('response.output_item.added', {
    output_index: outputIndex,
    item: mainItem(plan, 'in_progress', ''),
  });
  if (!isCall) opening += w.event('response.content_part.added', { ...text, part: textPart('') });

  const steps = [opening];
  const deltas = outputDeltas(plan);
  // A stream that fails after half the deltas numbers its response.failed next in line.
  const failedSequence = w.sequence + (deltas.length >> 1);
  for (const delta of deltas) {
    steps.push(
      isCall
        ? w.event('response.function_call_arguments.delta', { ...at, delta })
        : w.event('response.output_text.delta', { ...text, delta, logprobs: [] }),
    );
  }
  const full = outputText(plan);
  const status = finalStatus(plan);
  let closing = '';
  if (isCall) {
    closing += w.event('response.function_call_arguments.done', {
      ...at,
      name: plan.request.forcedFunction,
      arguments: full,
    });
  } else {
    closing += w.event('response.output_text.done', { ...text, text: full, logprobs: [] });
    closing += w.event('response.content_part.done', { ...text, part: textPart(full) });
  }
  closing += w.event('response.output_item.done', {
    output_index: outputIndex,
    item: mainItem(plan, status, full),
  });
  closing += w.event(`response.${status}`, {
    response: responseObject(plan, status, sendUsage ? plan.usage : null),
  });
  steps.push(closing);
  return {
    steps,
    failed: sseEvent('response.failed', failedSequence, {
      response: responseObject(plan, 'failed', null, {
        code: 'server_error',
        message: 'The server had an error while processing your request. Sorry about that!',
      }),
    }),
  };
}

export async function streamResponse(ex: Exchange, plan: ResponsesPlan): Promise<void> {
  const { knobs, res, stats } = ex;
  const { steps, failed } = streamSteps(plan, knobs.fault !== 'no-usage');
  if (knobs.fault === 'bad-json') steps.splice(1, 0, BROKEN_EVENT);
  if (!(await pause(ex, knobs.ttftMs))) return;

  res.writeHead(
    200,
    responseHeaders(ex, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' }),
  );
  stats.streamsStarted++;
  res.once('finish', () => stats.streamsCompleted++);

  const half = steps.slice(0, 1 + ((steps.length - 2) >> 1)).join('');
  if (knobs.fault === 'cut') {
    // The opening events and half the deltas, then the connection dies without response.completed.
    await writeFlushed(ex, half);
    cutConnection(ex);
    return;
  }
  if (knobs.fault === 'stream-error') {
    // A 200 stream that fails mid-way: half the deltas, then response.failed and the end.
    res.end(half + failed);
    return;
  }
  if (knobs.interChunkMs <= 0) {
    res.end(steps.join(''));
    return;
  }
  // The first delta leaves with the opening events: ttft is the time to the first token.
  const firstBatch = Math.min(2, steps.length - 1);
  res.write(steps.slice(0, firstBatch).join(''));
  for (let i = firstBatch; i < steps.length - 1; i++) {
    if (!(await pause(ex, knobs.interChunkMs))) return;
    res.write(steps[i]);
  }
  if (!(await pause(ex, knobs.interChunkMs))) return;
  res.end(steps[steps.length - 1]);
}
