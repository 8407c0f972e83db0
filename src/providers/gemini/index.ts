import type { ProviderAdapter } from '../types.ts';
import { generateContentRequest } from './request.ts';
import { completionFromGemini, geminiFinishReasons, isRecord } from './response.ts';
import { GeminiStreamDecoder } from './stream.ts';
import { usageFromGemini } from './usage.ts';

function notNative(): never {
  throw new Error('Gemini speaks no client dialect natively; calls are translated through generateContent');
}

/**
 * Google's Gemini API (generativelanguage.googleapis.com): generateContent and
 * streamGenerateContent. No client dialect passes through: every call is translated from
 * canonical chat.
 */
export const geminiAdapter: ProviderAdapter = {
  kind: 'gemini',
  dialects: [],
  request: notNative,
  usageFromJson: (_dialect, body) => (isRecord(body) ? usageFromGemini(body.usageMetadata) : null),
  finishReasonsFromJson: (_dialect, body) => geminiFinishReasons(body),
  createStreamMeter: notNative,
  canonical: {
    request: generateContentRequest,
    fromJson: completionFromGemini,
    createDecoder: () => new GeminiStreamDecoder(),
  },
};
