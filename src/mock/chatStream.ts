import type { ChatPlan } from './chatPlan.ts';
import { cutConnection, type Exchange, pause, responseHeaders, writeFlushed } from './exchange.ts';
import { completionId, nowSeconds, SYSTEM_FINGERPRINT } from './ids.ts';
import { mockWord } from './words.ts';

const DONE = 'data: [DONE]\n\n';
/** Where `bad-json` puts its broken line: a data line a JSON parser must choke on. */
const BROKEN_FRAME =
  'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta":\n\n';

/**
 * The SSE frames of a completion, grouped in steps that are written together: [0] the role
 * chunk(s), [1..N] one content token per choice, last the finish chunk(s), the usage chunk
 * and [DONE]. Built by string concatenation around a shared prefix: the words are plain ASCII,
 * so no per-chunk JSON.stringify is needed on this hot path.
 */
function streamSteps(plan: ChatPlan, includeUsage: boolean, sendUsage: boolean): string[] {
  const head = `data: {"id":"${completionId()}","object":"chat.completion.chunk","created":${nowSeconds()},"model":${JSON.stringify(plan.model)},"service_tier":"default","system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
  // OpenAI puts "usage":null on every chunk once usage was asked for.
  const tail = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const frames = (delta: string, finish: string): string => {
    let out = '';
    for (let index = 0; index < plan.choices; index++) {
      out += `${head}{"index":${index},"delta":${delta},"logprobs":null,"finish_reason":${finish}}${tail}`;
    }
    return out;
  };
  const steps = [frames('{"role":"assistant","content":"","refusal":null}', 'null')];
  for (let i = 0; i < plan.contentTokens; i++) steps.push(frames(`{"content":"${mockWord(i)}"}`, 'null'));
  let last = frames('{}', `"${plan.finishReason}"`);
  if (includeUsage && sendUsage) last += `${head}],"usage":${JSON.stringify(plan.usage)}}\n\n`;
  steps.push(last + DONE);
  return steps;
}

export async function streamChat(ex: Exchange, plan: ChatPlan, includeUsage: boolean): Promise<void> {
  const { knobs, res, stats } = ex;
  const steps = streamSteps(plan, includeUsage, knobs.fault !== 'no-usage');
  if (knobs.fault === 'bad-json') steps.splice(1, 0, BROKEN_FRAME);
  if (!(await pause(ex, knobs.ttftMs))) return;

  res.writeHead(
    200,
    responseHeaders(ex, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' }),
  );
  stats.streamsStarted++;
  res.once('finish', () => stats.streamsCompleted++);

  if (knobs.fault === 'cut') {
    // The role chunk and half the content, then the connection dies without [DONE].
    await writeFlushed(ex, steps.slice(0, 1 + (plan.contentTokens >> 1)).join(''));
    cutConnection(ex);
    return;
  }
  if (knobs.interChunkMs <= 0) {
    res.end(steps.join(''));
    return;
  }
  // The first content token leaves with the role chunk: ttft is the time to the first token.
  const firstBatch = Math.min(2, steps.length - 1);
  res.write(steps.slice(0, firstBatch).join(''));
  for (let i = firstBatch; i < steps.length - 1; i++) {
    if (!(await pause(ex, knobs.interChunkMs))) return;
    res.write(steps[i]);
  }
  if (!(await pause(ex, knobs.interChunkMs))) return;
  res.end(steps[steps.length - 1]);
}
