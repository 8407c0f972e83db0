import type { Usage } from '../../pricing/types.ts';
import { FinishReasons } from '../finishReasons.ts';
import { parseJsonObject, type SseEvent, SseSplitter } from '../sse.ts';
import type { CanonicalChunk, StreamDecoder } from '../types.ts';
import { blockReason, completionId, isRecord, readParts, toolCallsOf } from './response.ts';
import { finishReason, usageFromGemini } from './usage.ts';

type Json = Record<string, unknown>;

/** Per candidate: whether its role was announced, how many tool calls it made, whether it finished. */
interface CandidateState {
  started: boolean;
  calls: number;
  finished: boolean;
}

/**
 * streamGenerateContent?alt=sse → OpenAI `chat.completion.chunk` objects. Each SSE event is a
 * whole GenerateContentResponse holding the next piece of each candidate:
 *
 *   text parts            → content deltas (the first one also carries role: assistant)
 *   thought parts         → reasoning_content deltas
 *   functionCall parts    → a tool_calls delta each, whole (Gemini never splits a call)
 *   finishReason          → the candidate's finish_reason (kept as Gemini says it for finishReasons())
 *   promptFeedback.block… → a content_filter finish (the prompt was refused)
 *   usageMetadata         → usage, cumulative; the one on the finishing event is complete
 *   {error} or bad JSON   → streamError()
 *
 * Gemini sends no end marker: the stream is complete once every candidate has finished.
 * Usage is only reported then, so a stream cut or abandoned earlier is billed on counted
 * tokens rather than on a running total that stops short.
 */
export class GeminiStreamDecoder implements StreamDecoder {
  private readonly splitter = new SseSplitter();
  private readonly id = completionId();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly candidates = new Map<number, CandidateState>();
  private latestUsage: Usage | null = null;
  private blocked = false;
  /** Gemini's own finishReason per candidate, or the blockReason of a refused prompt. */
  private readonly reasons = new FinishReasons();
  private error: string | null = null;
  private text = '';

  push(chunk: Buffer): CanonicalChunk[] {
    return this.decode(this.splitter.push(chunk));
  }

  end(): CanonicalChunk[] {
    // A truncated last event cannot be parsed; what it carried is lost, as its bytes were.
    return this.decode(this.splitter.end());
  }

  usage(): Usage | null {
    return this.completed() ? this.latestUsage : null;
  }

  generatedText(): string {
    return this.text;
  }

  completed(): boolean {
    if (this.blocked) return true;
    if (this.candidates.size === 0) return false;
    for (const state of this.candidates.values()) if (!state.finished) return false;
    return true;
  }

  streamError(): string | null {
    return this.error;
  }

  finishReasons(): string[] {
    return this.reasons.list();
  }

  private decode(events: SseEvent[]): CanonicalChunk[] {
    const chunks: CanonicalChunk[] = [];
    for (const event of events) {
      if (this.error !== null) break;
      if (event.data === null || event.data.trim() === '') continue;
      const body = parseJsonObject(event.data);
      if (body === null) {
        this.error = 'Gemini sent a stream event that is not valid JSON';
        break;
      }
      chunks.push(...this.read(body));
    }
    return chunks;
  }

  private read(body: Json): CanonicalChunk[] {
    if (isRecord(body.error)) {
      const { message, status } = body.error;
      this.error = `${typeof status === 'string' ? `${status}: ` : ''}${typeof message === 'string' ? message : JSON.stringify(body.error)}`;
      return [];
    }
    this.latestUsage = usageFromGemini(body.usageMetadata) ?? this.latestUsage;
    const chunks: CanonicalChunk[] = [];
    const candidates = Array.isArray(body.candidates) ? body.candidates.filter(isRecord) : [];
    for (const [position, candidate] of candidates.entries()) {
      const chunk = this.candidateChunk(candidate, position);
      if (chunk) chunks.push(chunk);
    }
    const blocked = candidates.length === 0 ? blockReason(body) : null;
    if (blocked !== null && !this.blocked) {
      this.blocked = true;
      this.reasons.set(0, blocked);
      chunks.push(this.chunk(0, { role: 'assistant', content: '' }, 'content_filter'));
    }
    return chunks;
  }

  private candidateChunk(candidate: Json, position: number): CanonicalChunk | null {
    const index = typeof candidate.index === 'number' ? candidate.index : position;
    let state = this.candidates.get(index);
    if (!state) {
      state = { started: false, calls: 0, finished: false };
      this.candidates.set(index, state);
    }
    const { text, reasoning, calls } = readParts(candidate.content);
    const delta: Json = {};
    if (!state.started) {
      delta.role = 'assistant';
      delta.content = '';
      state.started = true;
    }
    if (text.length > 0) delta.content = text;
    if (reasoning.length > 0) delta.reasoning_content = reasoning;
    if (calls.length > 0) {
      delta.tool_calls = toolCallsOf(calls).map((call, i) => ({ index: state.calls + i, ...call }));
      state.calls += calls.length;
    }
    this.text += reasoning + text;
    for (const call of calls) this.text += call.name + call.arguments;
    let finish: string | null = null;
    if (candidate.finishReason !== undefined && candidate.finishReason !== null && !state.finished) {
      state.finished = true;
      this.reasons.set(index, candidate.finishReason);
      finish = finishReason(candidate.finishReason, state.calls > 0);
    }
    if (Object.keys(delta).length === 0 && finish === null) return null;
    return this.chunk(index, delta, finish);
  }

  private chunk(index: number, delta: Json, finish: string | null): CanonicalChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: '',
      choices: [{ index, delta, logprobs: null, finish_reason: finish }],
    };
  }
}
