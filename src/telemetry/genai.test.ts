import { describe, expect, it } from 'vitest';
import {
  budgetDecision,
  errorType,
  finishReasonAttributes,
  operationName,
  providerName,
  serverEndpoint,
  tollgateAttributes,
  usageAttributes,
} from './genai.ts';
import { testRow } from './testRows.ts';

const row = testRow;

describe('GenAI naming', () => {
  it('operation by endpoint, provider by adapter kind', () => {
    expect(operationName('/v1/embeddings')).toBe('embeddings');
    expect(operationName('/v1/chat/completions')).toBe('chat');
    expect(operationName('/v1/messages')).toBe('chat');
    expect(operationName('/v1/responses')).toBe('chat');
    expect(
      ['openai', 'openai-compatible', 'azure', 'anthropic', 'bedrock', 'gemini'].map(providerName),
    ).toEqual(['openai', 'openai', 'azure.ai.openai', 'anthropic', 'aws.bedrock', 'gcp.gemini']);
  });

  it('server.address / server.port with the scheme default port made explicit', () => {
    expect(serverEndpoint('https://api.openai.com/v1')).toEqual({ address: 'api.openai.com', port: 443 });
    expect(serverEndpoint('http://127.0.0.1:4010/v1')).toEqual({ address: '127.0.0.1', port: 4010 });
    expect(serverEndpoint('http://[::1]:8080')).toEqual({ address: '::1', port: 8080 });
    expect(serverEndpoint('not a url')).toBeNull();
  });
});

describe('budget decision', () => {
  it('ok, the budget actions taken, or denied:<policy>', () => {
    expect(budgetDecision(row())).toBe('ok');
    expect(budgetDecision(row({ action: 'retry' }))).toBe('ok');
    expect(budgetDecision(row({ action: 'degraded,clamped' }))).toBe('degraded,clamped');
    expect(budgetDecision(row({ action: 'queued,failover' }))).toBe('queued');
    expect(budgetDecision(row({ action: 'rerouted' }))).toBe('rerouted');
    expect(
      budgetDecision(row({ status: 'denied', denialPolicy: 'team-cap', errorCode: 'budget_exceeded' })),
    ).toBe('denied:team-cap');
    expect(budgetDecision(row({ status: 'denied', errorCode: 'rate_limited' }))).toBe('denied:rate_limited');
  });
});

describe('attributes', () => {
  it('input_tokens includes cache reads and writes; the kinds stay separate', () => {
    expect(usageAttributes(row())).toEqual({
      'gen_ai.usage.input_tokens': 15,
      'gen_ai.usage.output_tokens': 20,
      'gen_ai.usage.cache_read.input_tokens': 3,
      'gen_ai.usage.cache_creation.input_tokens': 2,
      'gen_ai.usage.reasoning.output_tokens': 5,
    });
    expect(usageAttributes(row({ usageSource: 'none' }))).toEqual({});
  });

  it('money as exact decimal strings; optional identity only when set', () => {
    const a = tollgateAttributes(row({ feature: 'search-box' }));
    expect(a['tollgate.cost_usd']).toBe('0.0000015');
    expect(a['tollgate.reserved_usd']).toBe('40.000000001');
    expect(a['tollgate.feature']).toBe('search-box');
    expect(a['tollgate.cost_center']).toBe('CC-1');
    expect('tollgate.request_id' in a).toBe(false);
    expect('tollgate.route' in a).toBe(false);
  });

  it('gen_ai.response.finish_reasons as the provider said them, absent when it said none', () => {
    expect(finishReasonAttributes(['end_turn'])).toEqual({ 'gen_ai.response.finish_reasons': ['end_turn'] });
    expect(finishReasonAttributes(['stop', 'length'])).toEqual({
      'gen_ai.response.finish_reasons': ['stop', 'length'],
    });
    expect(finishReasonAttributes([])).toEqual({});
    expect(finishReasonAttributes(undefined)).toEqual({});
  });

  it('error.type from the error code, none for success', () => {
    expect(errorType(row())).toBeNull();
    expect(errorType(row({ status: 'upstream_error', errorCode: 'upstream_timeout' }))).toBe(
      'upstream_timeout',
    );
    expect(errorType(row({ status: 'client_aborted', errorCode: null }))).toBe('client_aborted');
  });
});
