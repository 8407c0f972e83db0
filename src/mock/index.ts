export { mockInputTokens, mockPromptTokens } from './promptTokens.ts';
export { mockResponsesInputTokens } from './responses/index.ts';
export { startMock } from './server.ts';
export type { ChatBody, MockFault, MockOptions, MockServer, MockStats, ReceivedRequest } from './types.ts';
export { MOCK_FAULTS } from './types.ts';
export { mockContent, SINGLE_TOKEN_WORDS } from './words.ts';
