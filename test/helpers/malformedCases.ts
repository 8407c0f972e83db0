import * as fc from 'fast-check';
import { MASTER } from './harness.ts';
import { type Case, type Expectation, type Outcome, sendFetch, sendRaw, show } from './malformed.ts';

/**
 * Generators for the malformed-request suite. Every generator is deterministic (fixed seed),
 * builds inputs that are wrong in exactly one way on top of a valid request, and states the
 * catalogued error that one mistake must produce.
 */

export const SEED = 0x7011_6a7e;

export interface Ctx {
  url: () => string;
  /** max_body_bytes configured for the gateway under test. */
  limit: number;
  secret: string;
  /** A key limited to ['gpt-4o-mini', 'custom*']. */
  restricted: string;
  revoked: string;
  expired: string;
  /** A key the PATCH cases may target (they must all be refused). */
  patchKeyId: string;
}

const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number, salt: number): T[] =>
  fc.sample(arb, { seed: SEED + salt, numRuns });

let counter = 0;
const uid = (prefix: string) => `${prefix}-${(++counter).toString(36)}`;

export const CHAT = '/v1/chat/completions';
export const VALID_CHAT = {
  model: 'gpt-4.1-mini',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 5,
};
const JSON_CT = { 'content-type': 'application/json' };

const bearer = (s: string) => ({ authorization: `Bearer ${s}` });
const text = (body: unknown) => (typeof body === 'string' ? body : JSON.stringify(body));

function fetchCase(
  ctx: Ctx,
  category: string,
  name: string,
  req: { method: string; path: string; headers?: Record<string, string>; body?: string | Uint8Array },
  expect: Expectation,
): Case {
  return { category, name, expect, send: () => sendFetch(ctx.url(), req) };
}

function chatCase(
  ctx: Ctx,
  category: string,
  name: string,
  body: unknown,
  expect: Expectation,
  headers: Record<string, string> = {},
): Case {
  return fetchCase(
    ctx,
    category,
    name,
    {
      method: 'POST',
      path: CHAT,
      headers: { ...bearer(ctx.secret), ...JSON_CT, ...headers },
      body: body instanceof Uint8Array ? body : text(body),
    },
    expect,
  );
}

function adminCase(
  ctx: Ctx,
  category: string,
  name: string,
  method: string,
  path: string,
  body: unknown,
  expect: Expectation,
): Case {
  return fetchCase(
    ctx,
    category,
    name,
    {
      method,
      path,
      headers: { ...bearer(MASTER), ...JSON_CT },
      body: body === undefined ? undefined : text(body),
    },
    expect,
  );
}

function rawCase(
  ctx: Ctx,
  category: string,
  name: string,
  parts: () => (string | Buffer)[],
  expect: Expectation,
) {
  return { category, name, expect, send: (): Promise<Outcome> => sendRaw(ctx.url(), parts()) } satisfies Case;
}

const invalid = (param?: string | RegExp): Expectation =>
  param === undefined ? { code: 'invalid_request' } : { code: 'invalid_request', param };
const INVALID_JSON: Expectation = { code: 'invalid_json' };

/* ----------------------------------------------------------------------------------------- */
/* Arbitraries of wrong JSON types                                                            */
/* ----------------------------------------------------------------------------------------- */

const smallDict = fc.dictionary(
  fc.string({ maxLength: 6 }),
  fc.oneof(fc.integer(), fc.string({ maxLength: 6 })),
  {
    maxKeys: 3,
  },
);
const anInteger = fc.integer({ min: -1_000_000, max: 1_000_000 });
const aFloat = fc
  .double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })
  .filter((d) => !Number.isInteger(d));
const anArray = fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), { maxLength: 3 });
const aString = fc.string({ maxLength: 20 });
const notAString = fc.oneof(anInteger, aFloat, fc.boolean(), fc.constant(null), anArray, smallDict);
const notAStringNorNull = fc.oneof(anInteger, aFloat, fc.boolean(), anArray, smallDict);
const blank = fc.stringMatching(/^[ \t\n\r]{0,6}$/);
/** Strings that are not ids (ids: 1-128 of A-Z a-z 0-9 . _ : -, starting alphanumeric). */
const notAnId = fc.oneof(
  fc.constantFrom('', ' ', 'has space', '-lead', '.lead', '_lead', 'a/b', 'a@b', 'é', 'x'.repeat(129)),
  fc.stringMatching(/^[a-z]{1,6}[ !#$%&*+,/;<=>?@[\]^`{|}~][a-z]{0,6}$/),
);
const notAnIdOrString = fc.oneof(notAnId, notAString);

/* ----------------------------------------------------------------------------------------- */
/* Where a JSON body can be sent                                                             */
/* ----------------------------------------------------------------------------------------- */

interface Target {
  name: string;
  method: string;
  path: (ctx: Ctx) => string;
  auth: (ctx: Ctx) => string;
  /** A valid body: only the mistake under test is wrong. */
  valid: () => Record<string, unknown>;
}

const TARGETS: readonly Target[] = [
  { name: 'chat', method: 'POST', path: () => CHAT, auth: (c) => c.secret, valid: () => ({ ...VALID_CHAT }) },
  {
    name: 'chat(alias path)',
    method: 'POST',
    path: () => '/chat/completions',
    auth: (c) => c.secret,
    valid: () => ({ ...VALID_CHAT }),
  },
  {
    name: 'admin keys',
    method: 'POST',
    path: () => '/admin/v1/keys',
    auth: () => MASTER,
    valid: () => ({ team: 'support', project: 'bot', env: 'dev', name: uid('mf-key') }),
  },
  {
    name: 'admin budgets',
    method: 'POST',
    path: () => '/admin/v1/budgets',
    auth: () => MASTER,
    valid: () => ({ id: uid('mf-budget'), match: { team: 'support' }, limit: { usd: 1000 } }),
  },
  {
    name: 'admin teams',
    method: 'POST',
    path: () => '/admin/v1/teams',
    auth: () => MASTER,
    valid: () => ({ id: uid('mf-team') }),
  },
  {
    name: 'litellm team/new',
    method: 'POST',
    path: () => '/team/new',
    auth: () => MASTER,
    valid: () => ({ team_alias: uid('mf-lteam') }),
  },
  {
    name: 'litellm key/generate',
    method: 'POST',
    path: () => '/key/generate',
    auth: () => MASTER,
    valid: () => ({ team_id: 'support' }),
  },
  {
    name: 'admin PATCH key',
    method: 'PATCH',
    path: (c) => `/admin/v1/keys/${c.patchKeyId}`,
    auth: () => MASTER,
    valid: () => ({ name: uid('mf-renamed') }),
  },
];

function targetCase(
  ctx: Ctx,
  category: string,
  t: Target,
  name: string,
  body: string | Uint8Array,
  expect: Expectation,
  headers: Record<string, string> = JSON_CT,
): Case {
  return fetchCase(
    ctx,
    category,
    `${t.name}: ${name}`,
    { method: t.method, path: t.path(ctx), headers: { ...bearer(t.auth(ctx)), ...headers }, body },
    expect,
  );
}

const aTarget = fc.constantFrom(...TARGETS);

/* ----------------------------------------------------------------------------------------- */
/* Malformed JSON                                                                            */
/* ----------------------------------------------------------------------------------------- */

const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe, 0xff],
  [0xc3, 0x28],
  [0xa0, 0xa1],
  [0xe2, 0x28, 0xa1],
  [0xe2, 0x82],
  [0xf0, 0x28, 0x8c, 0xbc],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

function isJsonObjectText(bytes: Uint8Array): boolean {
  try {
    const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

export function malformedJsonCases(ctx: Ctx): Case[] {
  const cat = 'malformed JSON';
  const cases: Case[] = [];

  // Truncated: every proper prefix of a JSON object text (no trailing blanks) is invalid.
  for (const [t, cut] of sample(fc.tuple(aTarget, fc.nat()), 48, 1)) {
    const full = JSON.stringify(t.valid());
    const at = cut % full.length;
    cases.push(targetCase(ctx, cat, t, `truncated at ${at}/${full.length}`, full.slice(0, at), INVALID_JSON));
  }

  // Trailing garbage after a complete object.
  const garbage = fc.string({ minLength: 1, maxLength: 24 }).filter((g) => /[^ \t\n\r]/.test(g));
  for (const [t, g] of sample(fc.tuple(aTarget, garbage), 24, 2)) {
    cases.push(
      targetCase(ctx, cat, t, `trailing garbage ${show(g)}`, JSON.stringify(t.valid()) + g, INVALID_JSON),
    );
  }

  // Things JavaScript (or JSON5) would take but JSON does not.
  const notJson = [
    'NaN',
    'Infinity',
    '-Infinity',
    'undefined',
    "'5'",
    '0x10',
    '010',
    '+1',
    '.5',
    '1.',
    '5 /* comment */',
    '5 // comment\n',
    '[1,]',
    '{a:1}',
    '"\t"',
    '"\\x41"',
  ];
  for (const v of notJson) {
    const body = `{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":${v}}`;
    cases.push(chatCase(ctx, cat, `max_tokens: ${show(v)}`, body, INVALID_JSON));
  }
  cases.push(chatCase(ctx, cat, 'trailing comma in object', '{"model":"gpt-4.1-mini",}', INVALID_JSON));
  cases.push(chatCase(ctx, cat, 'single-quoted keys', "{'model':'gpt-4.1-mini'}", INVALID_JSON));

  // Byte order marks: RFC 8259 lets a parser either ignore a UTF-8 BOM or refuse it.
  for (const t of TARGETS.slice(0, 6)) {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(t.valid()))]);
    cases.push(targetCase(ctx, cat, t, 'UTF-8 BOM', body, { oneOf: [INVALID_JSON, { ok: true }] }));
  }
  for (const t of TARGETS.slice(0, 2)) {
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(JSON.stringify(t.valid()), 'utf16le'),
    ]);
    cases.push(targetCase(ctx, cat, t, 'UTF-16LE with BOM', utf16, INVALID_JSON));
  }

  // Deep nesting is refused at parse time (MAX_JSON_DEPTH), before any field is looked at.
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const nestObj = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  cases.push(chatCase(ctx, cat, '10k nested arrays at top level', nest(10_000), INVALID_JSON));
  cases.push(chatCase(ctx, cat, '10k nested arrays, no model', `{"a":${nest(10_000)}}`, INVALID_JSON));
  cases.push(chatCase(ctx, cat, '10k nested objects, no model', nestObj(10_000), INVALID_JSON));
  cases.push(
    chatCase(
      ctx,
      cat,
      '10k nested arrays as messages',
      `{"model":"gpt-4.1-mini","messages":${nest(10_000)}}`,
      INVALID_JSON,
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'admin keys: 10k nested arrays',
      'POST',
      '/admin/v1/keys',
      nest(10_000),
      INVALID_JSON,
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'admin teams: 10k nested objects, id wrong',
      'POST',
      '/admin/v1/teams',
      nestObj(10_000),
      INVALID_JSON,
    ),
  );

  // Invalid UTF-8 where it breaks the JSON structure (before, after, or instead of a quote).
  for (const [t, seq, where] of sample(
    fc.tuple(aTarget, fc.constantFrom(...INVALID_UTF8), fc.constantFrom('before', 'after', 'quote')),
    14,
    3,
  )) {
    const json = Buffer.from(JSON.stringify(t.valid()));
    const bad = Buffer.from(seq);
    const body =
      where === 'before'
        ? Buffer.concat([bad, json])
        : where === 'after'
          ? Buffer.concat([json, bad])
          : Buffer.concat([json.subarray(0, 1), bad, json.subarray(2)]);
    cases.push(targetCase(ctx, cat, t, `invalid UTF-8 ${show(seq)} ${where}`, body, INVALID_JSON));
  }

  // Valid JSON that is not an object.
  const nonObject = fc
    .jsonValue({ maxDepth: 3 })
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v));
  for (const [t, v] of sample(fc.tuple(aTarget, nonObject), 30, 4)) {
    cases.push(targetCase(ctx, cat, t, `non-object ${show(v)}`, JSON.stringify(v), INVALID_JSON));
  }

  // Empty and blank bodies.
  for (const t of TARGETS) cases.push(targetCase(ctx, cat, t, 'empty body', '', INVALID_JSON));
  for (const [t, b] of sample(fc.tuple(aTarget, fc.stringMatching(/^[ \t\n\r]{1,8}$/)), 4, 5)) {
    cases.push(targetCase(ctx, cat, t, `blank body ${show(b)}`, b, INVALID_JSON));
  }

  // Random bytes (the rare one that decodes to a JSON object is skipped).
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 120 }).filter((b) => !isJsonObjectText(b));
  for (const [t, b] of sample(fc.tuple(aTarget, bytes), 20, 6)) {
    cases.push(
      targetCase(ctx, cat, t, `random bytes ${Buffer.from(b).toString('hex').slice(0, 24)}`, b, INVALID_JSON),
    );
  }

  // Wrong content types, with an otherwise valid body.
  const contentTypes = fc.constantFrom(
    'text/plain',
    'text/plain; charset=utf-8',
    'text/html',
    'application/xml',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/octet-stream',
    'image/png',
    'application/yaml',
    'text/csv',
    'application/javascript',
    'json',
    'application/',
    'garbage',
    'application/jsonx',
    'text/json5',
  );
  for (const [t, ct] of sample(fc.tuple(aTarget, contentTypes), 28, 7)) {
    cases.push(
      targetCase(
        ctx,
        cat,
        t,
        `content-type ${show(ct)}`,
        JSON.stringify(t.valid()),
        { code: 'unsupported_media_type' },
        {
          'content-type': ct,
        },
      ),
    );
  }
  return cases;
}

/* ----------------------------------------------------------------------------------------- */
/* Body size                                                                                 */
/* ----------------------------------------------------------------------------------------- */

const PROSE = 'the quick brown fox jumps over the lazy dog while tollgates count every token ';

/** A JSON text of exactly `size` bytes: `body` with its `content` padded by prose. */
export function paddedChat(size: number, model = 'gpt-4.1-mini'): string {
  const empty = JSON.stringify({ model, messages: [{ role: 'user', content: '' }], max_tokens: 5 });
  const room = size - Buffer.byteLength(empty);
  if (room < 0) throw new Error(`cannot pad to ${size}`);
  const pad = PROSE.repeat(Math.ceil(room / PROSE.length)).slice(0, room);
  const out = JSON.stringify({ model, messages: [{ role: 'user', content: pad }], max_tokens: 5 });
  if (Buffer.byteLength(out) !== size) throw new Error('padding miscounted');
  return out;
}

function chunkedRequest(path: string, auth: string, body: string, chunk: number): (string | Buffer)[] {
  const head =
    `POST ${path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${auth}\r\n` +
    'content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n';
  const parts: (string | Buffer)[] = [head];
  const bytes = Buffer.from(body);
  for (let i = 0; i < bytes.length; i += chunk) {
    const piece = bytes.subarray(i, i + chunk);
    parts.push(`${piece.length.toString(16)}\r\n`, piece, '\r\n');
  }
  parts.push('0\r\n\r\n');
  return parts;
}

export function bodySizeCases(ctx: Ctx): Case[] {
  const cat = 'body size';
  const L = ctx.limit;
  const tooLarge: Expectation = { code: 'body_too_large' };
  const cases: Case[] = [];

  // Over the limit with a content-length (fetch sets it).
  const sizes = [
    L + 1,
    L + 2,
    2 * L,
    1024 * 1024,
    8 * 1024 * 1024,
    ...sample(fc.integer({ min: L + 1, max: 4 * L }), 6, 10),
  ];
  for (const size of sizes) {
    cases.push(chatCase(ctx, cat, `chat ${size} bytes with content-length`, paddedChat(size), tooLarge));
  }
  for (const [t, size] of sample(fc.tuple(aTarget, fc.integer({ min: L + 1, max: 3 * L })), 6, 11)) {
    const body = JSON.stringify({ ...t.valid(), pad: 'x'.repeat(size) });
    cases.push(
      targetCase(ctx, cat, t, `${Buffer.byteLength(body)} bytes with content-length`, body, tooLarge),
    );
  }

  // Over the limit, chunked (no content-length): refused while streaming, not buffered.
  for (const [size, chunk] of [
    [L + 1, 1024],
    [L + 1, L + 1],
    ...sample(
      fc.tuple(fc.integer({ min: L + 1, max: 3 * L }), fc.integer({ min: 1, max: 16 * 1024 })),
      6,
      12,
    ),
  ] as [number, number][]) {
    cases.push(
      rawCase(
        ctx,
        cat,
        `chat ${size} bytes chunked by ${chunk}`,
        () => chunkedRequest(CHAT, ctx.secret, paddedChat(size), chunk),
        tooLarge,
      ),
    );
  }
  cases.push(
    rawCase(
      ctx,
      cat,
      'admin keys 2xlimit chunked',
      () =>
        chunkedRequest('/admin/v1/keys', MASTER, JSON.stringify({ team: 'x', pad: 'y'.repeat(2 * L) }), 4096),
      tooLarge,
    ),
  );

  // A content-length larger than the limit is refused before any body arrives.
  for (const declared of ['999999999999', String(L + 1), '1e9']) {
    cases.push(
      rawCase(
        ctx,
        cat,
        `declared content-length ${declared}, short body`,
        () => [
          `POST ${CHAT} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${ctx.secret}\r\n` +
            `content-type: application/json\r\ncontent-length: ${declared}\r\nconnection: close\r\n\r\n{"a":1}`,
        ],
        // "1e9" is not a content-length at all: Node's HTTP parser refuses it before routing.
        declared === '1e9' ? { oneOf: [tooLarge, { httpError: true }] } : tooLarge,
      ),
    );
  }

  // Right at the limit: accepted and parsed (an unknown model proves it got past the body read).
  const unknown = 'no-such-model-at-limit';
  for (const size of [L, L - 1, L - 100]) {
    cases.push(
      chatCase(ctx, cat, `chat ${size} bytes (at/under limit), unknown model`, paddedChat(size, unknown), {
        code: 'model_not_found',
        param: 'model',
      }),
    );
  }
  cases.push(
    rawCase(
      ctx,
      cat,
      `chat ${L} bytes chunked, unknown model`,
      () => chunkedRequest(CHAT, ctx.secret, paddedChat(L, unknown), 7000),
      { code: 'model_not_found' },
    ),
  );
  cases.push(chatCase(ctx, cat, `chat exactly ${L} bytes, valid`, paddedChat(L), { ok: true }));
  const teamAtLimit = (() => {
    const base = JSON.stringify({ id: uid('mf-team-limit'), metadata: { pad: '' } });
    return JSON.stringify({
      ...JSON.parse(base),
      metadata: { pad: 'z'.repeat(L - Buffer.byteLength(base)) },
    });
  })();
  cases.push(
    adminCase(ctx, cat, `admin team exactly ${L} bytes`, 'POST', '/admin/v1/teams', teamAtLimit, {
      ok: true,
    }),
  );
  return cases;
}

/* ----------------------------------------------------------------------------------------- */
/* Wrong types for every chat field the gateway reads                                        */
/* ----------------------------------------------------------------------------------------- */

export function chatFieldCases(ctx: Ctx): Case[] {
  const cat = 'chat field types';
  const cases: Case[] = [];
  const withField = (field: string, value: unknown) => ({ ...VALID_CHAT, [field]: value });

  // model
  cases.push(chatCase(ctx, cat, 'model missing', { messages: VALID_CHAT.messages }, invalid('model')));
  for (const v of sample(fc.oneof(notAString, blank), 22, 20)) {
    cases.push(chatCase(ctx, cat, `model ${show(v)}`, withField('model', v), invalid('model')));
  }

  // messages
  const { messages: _m, ...noMessages } = VALID_CHAT;
  cases.push(chatCase(ctx, cat, 'messages missing', noMessages, invalid('messages')));
  cases.push(chatCase(ctx, cat, 'messages empty', withField('messages', []), invalid('messages')));
  for (const v of sample(fc.oneof(aString, anInteger, fc.boolean(), smallDict, fc.constant(null)), 8, 21)) {
    cases.push(chatCase(ctx, cat, `messages ${show(v)}`, withField('messages', v), invalid('messages')));
  }
  const good = { role: 'user', content: 'ok' };
  const badMessage = fc.oneof(
    fc.record({
      kind: fc.constant('item'),
      value: fc.oneof(aString, anInteger, fc.boolean(), fc.constant(null), anArray),
    }),
    fc.record({
      kind: fc.constant('role'),
      value: fc.oneof(
        fc.constant(undefined),
        fc.constant(''),
        anInteger,
        fc.boolean(),
        fc.constant(null),
        anArray,
        smallDict,
      ),
    }),
    fc.record({ kind: fc.constant('content'), value: fc.oneof(anInteger, aFloat, fc.boolean(), smallDict) }),
  );
  for (const [before, bad, after] of sample(fc.tuple(fc.nat(3), badMessage, fc.nat(2)), 40, 22)) {
    const item =
      bad.kind === 'item'
        ? bad.value
        : bad.kind === 'role'
          ? bad.value === undefined
            ? { content: 'x' }
            : { role: bad.value, content: 'x' }
          : { role: 'user', content: bad.value };
    const messages = [...Array(before).fill(good), item, ...Array(after).fill(good)];
    const param = bad.kind === 'item' ? `messages[${before}]` : `messages[${before}].${bad.kind}`;
    cases.push(
      chatCase(
        ctx,
        cat,
        `messages[${before}] bad ${bad.kind} ${show(bad.value)}`,
        withField('messages', messages),
        invalid(param),
      ),
    );
  }

  // stream
  for (const v of [
    ...sample(fc.oneof(aString, anInteger, anArray, smallDict), 8, 23),
    'true',
    'false',
    1,
    0,
  ]) {
    cases.push(chatCase(ctx, cat, `stream ${show(v)}`, withField('stream', v), invalid('stream')));
  }

  // max_tokens / max_completion_tokens
  const badCount = fc.oneof(
    fc.integer({ min: -1_000_000, max: 0 }),
    aFloat,
    aString,
    fc.boolean(),
    anArray,
    smallDict,
    fc.constantFrom(0, -1, 0.5, 1.5, '100', '', -1e12),
  );
  for (const [field, v] of sample(
    fc.tuple(fc.constantFrom('max_tokens', 'max_completion_tokens'), badCount),
    30,
    24,
  )) {
    cases.push(chatCase(ctx, cat, `${field} ${show(v)}`, withField(field, v), invalid(field)));
  }
  for (const field of ['max_tokens', 'max_completion_tokens']) {
    // 1e400 parses to Infinity; -0 to -0.
    for (const literal of ['1e400', '-0', '-1e400']) {
      const body = `{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}],"${field}":${literal}}`;
      cases.push(chatCase(ctx, cat, `${field} ${literal}`, body, invalid(field)));
    }
  }

  // n
  const badN = fc.oneof(
    fc.integer({ min: -1000, max: 0 }),
    fc.integer({ min: 129, max: 1_000_000 }),
    aFloat,
    aString,
    fc.boolean(),
    fc.constantFrom(0, 1000, 129, 1.5, '2'),
  );
  for (const v of sample(badN, 14, 25))
    cases.push(chatCase(ctx, cat, `n ${show(v)}`, withField('n', v), invalid('n')));

  // stream_options (with stream: true, where it is meaningful)
  for (const v of [
    ...sample(fc.oneof(anArray, aString, anInteger, fc.boolean()), 8, 26),
    [],
    'include_usage',
  ]) {
    cases.push(
      chatCase(
        ctx,
        cat,
        `stream_options ${show(v)}`,
        { ...VALID_CHAT, stream: true, stream_options: v },
        invalid('stream_options'),
      ),
    );
  }

  // user (body field): too long, or characters outside the allowed set
  const longUser = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{128,300}$/);
  const weirdUser = fc
    .tuple(
      fc.stringMatching(/^[A-Za-z0-9]{0,8}$/),
      fc.constantFrom(
        ' ',
        '\n',
        '\t',
        '!',
        '#',
        '$',
        '%',
        '&',
        '*',
        ',',
        ';',
        '<',
        '>',
        '?',
        '\\',
        '"',
        'é',
        '日本',
        '😀',
        '\u0000',
        '\u202e',
      ),
      fc.stringMatching(/^[A-Za-z0-9]{0,8}$/),
    )
    .map(([a, b, c]) => a + b + c);
  for (const v of sample(fc.oneof(longUser, weirdUser, fc.constantFrom('-lead', '.lead', '_lead')), 18, 27)) {
    cases.push(chatCase(ctx, cat, `user ${show(v)}`, withField('user', v), invalid('user')));
  }
  return cases;
}

/** max_tokens above the model's max_output_tokens (32768 for gpt-4.1-mini in the harness). */
export function ceilingCases(ctx: Ctx): Case[] {
  const cases: Case[] = [];
  for (const field of ['max_tokens', 'max_completion_tokens']) {
    for (const v of [32_769, 1_000_000, 1e12]) {
      cases.push(
        chatCase(ctx, 'max tokens ceiling', `${field} ${v}`, { ...VALID_CHAT, [field]: v }, invalid(field)),
      );
    }
  }
  return cases;
}

/* ----------------------------------------------------------------------------------------- */
/* Keys and models                                                                           */
/* ----------------------------------------------------------------------------------------- */

export function authAndModelCases(ctx: Ctx): Case[] {
  const cat = 'keys and models';
  const cases: Case[] = [];
  const chatWith = (
    name: string,
    headers: Record<string, string>,
    expect: Expectation,
    body: unknown = VALID_CHAT,
  ) =>
    fetchCase(
      ctx,
      cat,
      name,
      { method: 'POST', path: CHAT, headers: { ...JSON_CT, ...headers }, body: text(body) },
      expect,
    );
  const modelsWith = (name: string, headers: Record<string, string>, expect: Expectation) =>
    fetchCase(ctx, cat, `GET /v1/models ${name}`, { method: 'GET', path: '/v1/models', headers }, expect);

  const missing: Expectation = { code: 'missing_api_key' };
  const invalidKey: Expectation = { code: 'invalid_api_key' };
  const eitherKeyError: Expectation = { code: ['missing_api_key', 'invalid_api_key'] };

  for (const [name, headers] of [
    ['no key', {}],
    ['empty authorization', { authorization: '' }],
    ['blank x-api-key', { 'x-api-key': '   ' }],
  ] as [string, Record<string, string>][]) {
    cases.push(chatWith(name, headers, missing));
    cases.push(modelsWith(name, headers, missing));
  }
  // A huge body without a key is refused on the key, and not buffered.
  cases.push(chatWith('no key, body over the limit', {}, missing, paddedChat(2 * ctx.limit)));

  // Malformed Authorization headers.
  const malformed = [
    'Bearer',
    'Bearer ',
    'Basic dXNlcjpwYXNz',
    `Token ${ctx.secret}`,
    `Bearer ${ctx.secret} extra`,
    `Bearer: ${ctx.secret}`,
    `Bearer\t${ctx.secret}\tx`,
    ctx.secret,
    `${ctx.secret} Bearer`,
    'Bearer , ,',
  ];
  for (const a of malformed)
    cases.push(
      chatWith(`authorization ${show(a.replace(ctx.secret, '<key>'))}`, { authorization: a }, eitherKeyError),
    );
  const headerText = fc
    .stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?$/)
    .filter((s) => !/^bearer/i.test(s));
  for (const a of sample(headerText, 12, 30))
    cases.push(chatWith(`authorization ${show(a)}`, { authorization: a }, eitherKeyError));

  // Well-formed but unknown keys.
  const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
  for (const [tok, via] of sample(fc.tuple(token, fc.constantFrom('authorization', 'x-api-key')), 14, 31)) {
    const headers: Record<string, string> =
      via === 'authorization' ? { authorization: `Bearer ${tok}` } : { 'x-api-key': tok };
    cases.push(chatWith(`unknown key via ${via} ${show(tok)}`, headers, invalidKey));
  }
  for (const variant of [
    `${ctx.secret}x`,
    ctx.secret.slice(0, -1),
    ctx.secret.toUpperCase(),
    `sk-${ctx.secret}`,
    MASTER,
  ]) {
    cases.push(
      chatWith(
        `near-miss key ${show(variant.slice(0, 8))}…`,
        { authorization: `Bearer ${variant}` },
        invalidKey,
      ),
    );
  }
  cases.push(modelsWith('unknown key', { authorization: 'Bearer tg-nope' }, invalidKey));

  // Revoked and expired keys, both header styles, chat and models.
  for (const [label, secret, code] of [
    ['revoked', ctx.revoked, 'key_revoked'],
    ['expired', ctx.expired, 'key_expired'],
  ] as const) {
    cases.push(chatWith(`${label} key (Bearer)`, bearer(secret), { code }));
    cases.push(chatWith(`${label} key (x-api-key)`, { 'x-api-key': secret }, { code }));
    cases.push(chatWith(`${label} key, malformed body`, bearer(secret), { code }, '{"model":'));
    cases.push(modelsWith(`${label} key`, bearer(secret), { code }));
  }

  // Unknown models.
  const known = new Set(['gpt-4.1', 'gpt-4.1-mini', 'gpt-4o-mini', 'custom-priced', 'unpriced-model']);
  const unknownModel = fc
    .string({ minLength: 1, maxLength: 80 })
    .filter((m) => m.trim() !== '' && !known.has(m));
  const notFound: Expectation = { code: 'model_not_found', param: 'model' };
  for (const m of [
    ...sample(unknownModel, 16, 32),
    '__proto__',
    'constructor',
    'toString',
    'GPT-4.1-MINI',
    ' gpt-4.1-mini',
    'gpt-4.1-mini ',
    'gpt-4.1*',
    'gpt-4o',
  ]) {
    cases.push(
      chatWith(`unknown model ${show(m)}`, bearer(ctx.secret), notFound, { ...VALID_CHAT, model: m }),
    );
  }

  // Models the key may not use (the restricted key allows gpt-4o-mini and custom*).
  for (const m of ['gpt-4.1', 'gpt-4.1-mini', 'unpriced-model']) {
    cases.push(
      chatWith(
        `restricted key, model ${m}`,
        bearer(ctx.restricted),
        { code: 'model_not_allowed', param: 'model' },
        {
          ...VALID_CHAT,
          model: m,
        },
      ),
    );
  }
  cases.push(
    chatWith('restricted key, unknown model', bearer(ctx.restricted), notFound, {
      ...VALID_CHAT,
      model: 'custom-nope',
    }),
  );
  cases.push(
    chatWith(
      'model with no price',
      bearer(ctx.secret),
      { code: 'model_not_priced', param: 'model' },
      {
        ...VALID_CHAT,
        model: 'unpriced-model',
      },
    ),
  );
  return cases;
}

/* ----------------------------------------------------------------------------------------- */
/* Request-context headers                                                                   */
/* ----------------------------------------------------------------------------------------- */

export function contextHeaderCases(ctx: Ctx): Case[] {
  const cat = 'context headers';
  const cases: Case[] = [];
  const headerNames = [
    'x-tollgate-feature',
    'x-tollgate-request-id',
    'x-tollgate-session-id',
    'x-tollgate-user',
  ];
  const paramOf = (h: string) => (h === 'x-tollgate-user' ? 'user' : h);
  const tooLong = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@/+-]{128,400}$/);
  // Header-safe (latin-1, no CR/LF, no edge blanks) but outside [A-Za-z0-9._:@/+-] or not starting alnum.
  const badChar = fc
    .tuple(
      fc.stringMatching(/^[A-Za-z0-9]{0,10}$/),
      fc.constantFrom(
        '!',
        '"',
        '#',
        '$',
        '%',
        '&',
        "'",
        '(',
        ')',
        '*',
        ',',
        ';',
        '<',
        '=',
        '>',
        '?',
        '[',
        '\\',
        ']',
        '^',
        '`',
        '{',
        '|',
        '}',
        '~',
        'é',
        'ü',
        'ß',
        '©',
        'a b',
      ),
      fc.stringMatching(/^[A-Za-z0-9]{1,10}$/),
    )
    .map(([a, b, c]) => a + b + c);
  const badLead = fc.stringMatching(/^[._:@/+-][A-Za-z0-9]{0,10}$/);
  for (const [h, v] of sample(
    fc.tuple(fc.constantFrom(...headerNames), fc.oneof(tooLong, badChar, badLead)),
    44,
    40,
  )) {
    cases.push(chatCase(ctx, cat, `${h}: ${show(v)}`, VALID_CHAT, invalid(paramOf(h)), { [h]: v }));
  }

  // Baggage whose known members carry invalid values: refused like the headers.
  const members: [string, string][] = [
    ['feature_id', 'x-tollgate-feature'],
    ['request_id', 'x-tollgate-request-id'],
    ['session_id', 'x-tollgate-session-id'],
  ];
  const badBaggage = fc.tuple(
    fc.constantFrom(...members),
    fc.oneof(tooLong, badChar, fc.constantFrom('has space', '日本', 'x\u0000y')),
    fc.constantFrom('plain', 'with properties', 'among others'),
  );
  for (const [[member, param], v, decorate] of sample(badBaggage, 14, 41)) {
    const m = `${member}=${encodeURIComponent(v)}`;
    const baggage =
      decorate === 'plain' ? m : decorate === 'with properties' ? `${m};ttl=5;flag` : `a=1, ${m} , b=%20two`;
    cases.push(chatCase(ctx, cat, `baggage ${show(baggage)}`, VALID_CHAT, invalid(param), { baggage }));
  }

  // Garbage baggage that W3C says to ignore: the call goes through.
  const noEquals = fc.stringMatching(
    /^[\x21-\x3c\x3e-\x7e]([\x20-\x3c\x3e-\x7e]{0,60}[\x21-\x3c\x3e-\x7e])?$/,
  );
  const ignorable = [
    ...sample(noEquals, 6, 42),
    'feature_id=%E0%A4%A',
    'feature_id=%',
    '=value',
    ',,,;;;',
    'unknown_member=!!!',
    `feature_id=${'bad value '.repeat(1000)}`,
  ];
  for (const baggage of ignorable) {
    cases.push(
      chatCase(ctx, cat, `ignorable baggage ${show(baggage)}`, VALID_CHAT, { ok: true }, { baggage }),
    );
  }
  return cases;
}

/* ----------------------------------------------------------------------------------------- */
/* Methods and paths                                                                         */
/* ----------------------------------------------------------------------------------------- */

const EXACT_ROUTES: Record<string, readonly string[]> = {
  '/v1/chat/completions': ['POST'],
  '/chat/completions': ['POST'],
  '/v1/responses': ['POST'],
  '/responses': ['POST'],
  '/v1/embeddings': ['POST'],
  '/embeddings': ['POST'],
  '/v1/messages': ['POST'],
  '/v1/models': ['GET'],
  '/models': ['GET'],
  '/health': ['GET'],
  '/ready': ['GET'],
  '/admin/v1/orgs': ['GET'],
  '/admin/v1/teams': ['GET', 'POST'],
  '/admin/v1/projects': ['GET', 'POST'],
  '/admin/v1/keys': ['GET', 'POST'],
  '/admin/v1/budgets': ['GET', 'POST'],
  '/admin/v1/calls': ['GET'],
  '/admin/v1/usage': ['GET'],
  '/team/new': ['POST'],
  '/key/generate': ['POST'],
};
const PATTERN_ROUTES: [string, readonly string[]][] = [
  ['/admin/v1/teams/x', ['GET']],
  ['/admin/v1/keys/x', ['GET', 'PATCH', 'DELETE']],
  ['/admin/v1/keys/x/rotate', ['POST']],
  ['/admin/v1/budgets/x', ['GET', 'PATCH', 'DELETE']],
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function methodAndPathCases(ctx: Ctx): Case[] {
  const cat = 'methods and paths';
  const cases: Case[] = [];
  const req = (method: string, path: string) => ({
    method,
    path,
    headers: { ...bearer(ctx.secret), ...JSON_CT },
    body: method === 'GET' ? undefined : '{}',
  });
  for (const [path, allowed] of [...Object.entries(EXACT_ROUTES), ...PATTERN_ROUTES]) {
    for (const method of METHODS.filter((m) => !allowed.includes(m))) {
      cases.push(fetchCase(ctx, cat, `${method} ${path}`, req(method, path), { code: 'method_not_allowed' }));
    }
  }
  const notFound: Expectation = { code: 'route_not_found' };
  const explicit = [
    '/',
    '/v1',
    '/v1/chat',
    '/v1/chat/completions/extra',
    '/V1/CHAT/COMPLETIONS',
    '/v1//chat/completions',
    '/v1/completions',
    '/%ZZ',
    '/admin',
    '/admin/v1',
    '/admin/v1/keys/%E0%A4%A',
    '/admin/v1/teams/a/b',
    '/admin/v2/keys',
    '/health/live',
  ];
  for (const path of explicit) {
    cases.push(fetchCase(ctx, cat, `GET ${path}`, req('GET', path), notFound));
    cases.push(fetchCase(ctx, cat, `POST ${path}`, req('POST', path), notFound));
  }
  const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
  const randomPath = fc
    .tuple(
      fc.constantFrom('/nope', '/v1/nope', '/api', '/admin/nope', '/v2'),
      fc.array(segment, { maxLength: 3 }),
    )
    .map(([p, segs]) => [p, ...segs].join('/'));
  for (const [method, path] of sample(fc.tuple(fc.constantFrom(...METHODS), randomPath), 16, 50)) {
    cases.push(fetchCase(ctx, cat, `${method} ${path}`, req(method, path), notFound));
  }
  return cases;
}

/** Bytes that are not HTTP/1.1 at all: refused by the parser, with a 4xx and a closed socket, never a hang. */
export function httpFramingCases(ctx: Ctx): Case[] {
  const cat = 'HTTP framing';
  const head = (extra: string) =>
    `POST ${CHAT} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${ctx.secret}\r\n` +
    `content-type: application/json\r\n${extra}connection: close\r\n\r\n`;
  const body = JSON.stringify(VALID_CHAT);
  const raw: [string, () => (string | Buffer)[]][] = [
    ['chunk size not hex', () => [head('transfer-encoding: chunked\r\n'), 'zz\r\n{}\r\n0\r\n\r\n']],
    ['chunk shorter than declared', () => [head('transfer-encoding: chunked\r\n'), 'ff\r\n{}\r\n0\r\n\r\n']],
    ['content-length not a number', () => [head('content-length: abc\r\n'), body]],
    [
      'two different content-lengths',
      () => [head(`content-length: 2\r\ncontent-length: ${body.length}\r\n`), body],
    ],
    [
      'content-length and chunked',
      () => [head(`content-length: ${body.length}\r\ntransfer-encoding: chunked\r\n`), body],
    ],
    ['header line without a colon', () => [head('this is not a header\r\n'), body]],
    ['NUL in a header value', () => [head('x-tollgate-feature: a\u0000b\r\n'), body]],
    ['garbage request line', () => ['GARBAGE\r\n\r\n']],
    ['HTTP/9.9', () => [`GET /health HTTP/9.9\r\nhost: x\r\n\r\n`]],
    ['header section over 64 KiB', () => [head(`x-pad: ${'p'.repeat(70_000)}\r\n`), body]],
  ];
  return raw.map(([name, parts]) => rawCase(ctx, cat, name, parts, { httpError: true }));
}

/* ----------------------------------------------------------------------------------------- */
/* Admin API                                                                                 */
/* ----------------------------------------------------------------------------------------- */

const ADMIN_ENDPOINTS: [string, string][] = [
  ['GET', '/admin/v1/keys'],
  ['POST', '/admin/v1/keys'],
  ['DELETE', '/admin/v1/keys/key_nope'],
  ['PATCH', '/admin/v1/keys/key_nope'],
  ['POST', '/admin/v1/keys/key_nope/rotate'],
  ['GET', '/admin/v1/budgets'],
  ['POST', '/admin/v1/budgets'],
  ['GET', '/admin/v1/teams'],
  ['POST', '/admin/v1/teams'],
  ['GET', '/admin/v1/calls'],
  ['GET', '/admin/v1/usage?by=team'],
  ['POST', '/team/new'],
  ['POST', '/key/generate'],
];

export function adminAuthCases(ctx: Ctx): Case[] {
  const cat = 'admin auth';
  const cases: Case[] = [];
  const variants: [string, Record<string, string>][] = [
    ['no authorization', {}],
    ['wrong master key', bearer('wrong-master-key-000000')],
    ['master key + 1 char', bearer(`${MASTER}x`)],
    ['master key - 1 char', bearer(MASTER.slice(0, -1))],
    ['master key uppercased', bearer(MASTER.toUpperCase())],
    ['Basic auth', { authorization: `Basic ${Buffer.from(`admin:${MASTER}`).toString('base64')}` }],
    ['a virtual key', bearer(ctx.secret)],
    ['master key in x-api-key', { 'x-api-key': MASTER }],
  ];
  const random = sample(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), 8, 60).map(
    (s) => [`random ${show(s)}`, bearer(s)] as [string, Record<string, string>],
  );
  const all = [...variants, ...random];
  for (const [[label, headers], [method, path]] of sample(
    fc.tuple(fc.constantFrom(...all), fc.constantFrom(...ADMIN_ENDPOINTS)),
    24,
    61,
  )) {
    cases.push(
      fetchCase(
        ctx,
        cat,
        `${method} ${path} with ${label}`,
        {
          method,
          path,
          headers: { ...JSON_CT, ...headers },
          body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
        },
        { code: 'admin_unauthorized' },
      ),
    );
  }
  // Every variant at least once, on one endpoint.
  for (const [label, headers] of variants) {
    cases.push(
      fetchCase(
        ctx,
        cat,
        `GET /admin/v1/keys with ${label}`,
        { method: 'GET', path: '/admin/v1/keys', headers },
        { code: 'admin_unauthorized' },
      ),
    );
  }
  return cases;
}

type FieldBad = [field: string, bad: fc.Arbitrary<unknown>, param?: string | RegExp];

function fieldCases(
  ctx: Ctx,
  category: string,
  method: string,
  path: string,
  valid: () => Record<string, unknown>,
  fields: readonly FieldBad[],
  perField: number,
  salt: number,
): Case[] {
  const cases: Case[] = [];
  fields.forEach(([field, bad, param], i) => {
    for (const v of sample(bad, perField, salt + i)) {
      const body = { ...valid(), [field]: v };
      if (v === undefined) delete body[field];
      const p = param ?? new RegExp(`^${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.|$)`);
      cases.push(
        adminCase(ctx, category, `${method} ${path} ${field}=${show(v)}`, method, path, body, invalid(p)),
      );
    }
  });
  return cases;
}

export function adminBodyCases(ctx: Ctx): Case[] {
  const cat = 'admin bodies';
  const cases: Case[] = [];

  cases.push(
    ...fieldCases(
      ctx,
      cat,
      'POST',
      '/admin/v1/keys',
      () => ({ team: 'support', project: 'bot', env: 'dev' }),
      [
        ['team', fc.oneof(notAnIdOrString, fc.constant(undefined))],
        ['project', fc.oneof(notAnIdOrString, fc.constant(undefined))],
        ['env', fc.oneof(notAnIdOrString, fc.constantFrom('nope', 'production', 'PROD'))],
        ['name', fc.oneof(notAStringNorNull, fc.constant('n'.repeat(201)))],
        ['user', fc.oneof(notAStringNorNull, fc.constant('u'.repeat(129)))],
        [
          'models',
          fc.oneof(
            aString,
            anInteger,
            smallDict,
            fc.constant([1]),
            fc.constant(['']),
            fc.constant(['no-such-model']),
          ),
        ],
        [
          'expires_at',
          fc.oneof(notAStringNorNull, fc.constantFrom('notadate', 'yesterday-ish', '2024-13-45')),
        ],
        ['expires_in', fc.oneof(notAString, fc.constantFrom('abc', '0s', '1y', '-1d', '99999999999999999d'))],
        ['metadata', fc.oneof(aString, anInteger, anArray, fc.constant(null))],
        [
          'budget',
          fc.oneof(
            aString,
            anInteger,
            fc.constantFrom(
              { usd: -1 },
              { usd: 'abc' },
              { usd: 1, extra: true },
              { window: '30d' },
              { usd: 1, window: 5 },
            ),
          ),
        ],
        ['bogus_field', fc.oneof(aString, anInteger), /./],
      ],
      3,
      100,
    ),
  );

  const budget = () => ({ id: uid('mf-budget'), match: { team: 'support' }, limit: { usd: 1000 } });
  cases.push(
    ...fieldCases(
      ctx,
      cat,
      'POST',
      '/admin/v1/budgets',
      budget,
      [
        ['id', fc.oneof(notAnIdOrString, fc.constant(undefined))],
        [
          'match',
          fc.oneof(aString, anInteger, anArray, fc.constantFrom({ foo: 'x' }, { team: 5 }, { model: ['a'] })),
        ],
        [
          'limit',
          fc.oneof(
            fc.constant(undefined),
            aString,
            anInteger,
            fc.constantFrom(
              {},
              { usd: -1 },
              { usd: 'ten' },
              { tokens: 1.5 },
              { requests: 0 },
              { usd: null },
              { dollars: 5 },
            ),
          ),
        ],
        [
          'window',
          fc.oneof(
            aString,
            anInteger,
            fc.constantFrom(
              { kind: 'weekly' },
              { kind: 'calendar', every: 'fortnight' },
              { kind: 'rolling' },
              { kind: 'rolling', size: 'forever' },
              { kind: 'calendar', every: 'month', tz: 'Mars/Olympus' },
              { kind: 'rolling', size: '7s', bucket: '3s' },
            ),
          ),
        ],
        ['mode', fc.oneof(notAString, fc.constantFrom('strict', 'HARD'))],
        ['alerts', fc.oneof(aString, anInteger, fc.constantFrom([0], [11], ['half'], [-0.5]))],
        ['clamp', fc.oneof(aString, anInteger, anArray)],
        [
          'degrade',
          fc.oneof(
            aString,
            anInteger,
            fc.constantFrom({ at: 2, to: 'gpt-4o-mini' }, { at: 0.5 }, { at: 0.5, to: 'nope' }),
          ),
        ],
        ['on_exhausted', fc.oneof(notAString, fc.constantFrom('explode', 'DENY'))],
      ],
      3,
      200,
    ),
  );

  cases.push(
    ...fieldCases(
      ctx,
      cat,
      'POST',
      '/admin/v1/teams',
      () => ({ id: uid('mf-team') }),
      [
        ['id', fc.oneof(notAnIdOrString, fc.constant(undefined))],
        ['org', fc.oneof(notAnIdOrString.filter((v) => v !== undefined))],
        ['name', fc.oneof(notAStringNorNull, fc.constant('n'.repeat(201)))],
        ['cost_center', fc.oneof(anInteger, fc.boolean(), anArray, smallDict, fc.constant('c'.repeat(201)))],
        ['metadata', fc.oneof(aString, anInteger, anArray, fc.constant(null))],
        ['projects', fc.oneof(anArray, aString), /./],
      ],
      3,
      300,
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'POST /admin/v1/teams unknown org',
      'POST',
      '/admin/v1/teams',
      { id: uid('mf-team'), org: 'nope' },
      { code: 'not_found', param: 'org' },
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'POST /admin/v1/teams existing id',
      'POST',
      '/admin/v1/teams',
      { id: 'search' },
      { code: 'conflict' },
    ),
  );

  cases.push(
    ...fieldCases(
      ctx,
      cat,
      'POST',
      '/team/new',
      () => ({ team_alias: uid('mf-lteam') }),
      [
        [
          'team_alias',
          fc.oneof(notAString, fc.constant(undefined), fc.constant(''), fc.constant('a'.repeat(129))),
        ],
        ['team_id', notAnIdOrString.filter((v) => v !== null)],
        ['organization_id', fc.oneof(anInteger, fc.constantFrom('bad org', ''))],
        ['max_budget', fc.oneof(fc.integer({ min: -1000, max: -1 }), aString, fc.boolean(), anArray)],
        ['budget_duration', fc.oneof(anInteger, fc.boolean(), anArray)],
        ['rpm_limit', fc.oneof(fc.integer({ min: -100, max: 0 }), aFloat, aString)],
        ['tpm_limit', fc.oneof(fc.integer({ min: -100, max: 0 }), aFloat, aString)],
        ['models', fc.oneof(aString, anInteger, fc.constant([1]))],
        ['metadata', fc.oneof(aString, anInteger, anArray)],
      ],
      2,
      400,
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'POST /team/new bad budget_duration',
      'POST',
      '/team/new',
      { team_alias: uid('mf-lteam'), max_budget: 1, budget_duration: '2mo' },
      invalid('budget_duration'),
    ),
  );

  cases.push(
    ...fieldCases(
      ctx,
      cat,
      'POST',
      '/key/generate',
      () => ({ team_id: 'support' }),
      [
        ['team_id', fc.oneof(notAnIdOrString, fc.constant(undefined))],
        ['key_alias', fc.oneof(anInteger, fc.boolean(), anArray, fc.constant('k'.repeat(201)))],
        ['user_id', fc.oneof(anInteger, fc.constant('u'.repeat(129)))],
        ['models', fc.oneof(aString, anInteger, fc.constant([1]))],
        ['max_budget', fc.oneof(fc.integer({ min: -1000, max: -1 }), aString)],
        [
          'duration',
          fc.oneof(anInteger, fc.boolean(), fc.constantFrom('abc', '0s', '1 day')),
          /^(duration|expires_in)$/,
        ],
        ['rpm_limit', fc.oneof(fc.integer({ min: -100, max: 0 }), aFloat)],
        ['metadata', fc.oneof(aString, anInteger, anArray)],
      ],
      2,
      500,
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'POST /key/generate unknown team',
      'POST',
      '/key/generate',
      { team_id: 'no-such-team' },
      { code: 'not_found', param: 'team_id' },
    ),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'POST /key/generate unknown env',
      'POST',
      '/key/generate',
      { team_id: 'support', metadata: { env: 'nope' } },
      invalid('metadata.env'),
    ),
  );

  const patch = (body: unknown, expect: Expectation, name: string) =>
    adminCase(ctx, cat, `PATCH key ${name}`, 'PATCH', `/admin/v1/keys/${ctx.patchKeyId}`, body, expect);
  for (const [field, v] of [
    ['name', 5],
    ['name', 'n'.repeat(201)],
    ['models', 'gpt-4.1'],
    ['models', [1]],
    ['expires_at', 5],
    ['expires_at', 'notadate'],
    ['metadata', []],
    ['revoked', true],
    ['team', 'search'],
  ] as [string, unknown][]) {
    const param = field === 'revoked' || field === 'team' ? /./ : new RegExp(`^${field}(\\.|$)`);
    cases.push(patch({ [field]: v }, invalid(param), `${field}=${show(v)}`));
  }
  cases.push(
    adminCase(
      ctx,
      cat,
      'PATCH unknown key',
      'PATCH',
      '/admin/v1/keys/key_nope',
      { name: 'x' },
      { code: 'not_found' },
    ),
  );
  cases.push(
    adminCase(ctx, cat, 'DELETE unknown key', 'DELETE', '/admin/v1/keys/key_nope', undefined, {
      code: 'not_found',
    }),
  );
  cases.push(
    adminCase(ctx, cat, 'rotate unknown key', 'POST', '/admin/v1/keys/key_nope/rotate', undefined, {
      code: 'not_found',
    }),
  );
  cases.push(
    adminCase(ctx, cat, 'GET unknown team', 'GET', '/admin/v1/teams/nope', undefined, { code: 'not_found' }),
  );
  cases.push(
    adminCase(ctx, cat, 'GET unknown budget', 'GET', '/admin/v1/budgets/nope', undefined, {
      code: 'not_found',
    }),
  );
  cases.push(
    adminCase(ctx, cat, 'DELETE unknown budget', 'DELETE', '/admin/v1/budgets/nope', undefined, {
      code: 'not_found',
    }),
  );
  cases.push(
    adminCase(
      ctx,
      cat,
      'PATCH unknown budget',
      'PATCH',
      '/admin/v1/budgets/nope',
      { mode: 'soft' },
      { code: 'not_found' },
    ),
  );
  return cases;
}

const notADate = fc
  .string({ minLength: 1, maxLength: 24 })
  .filter((s) => !/^\d+$/.test(s) && !Number.isFinite(Date.parse(s)));

export function adminQueryCases(ctx: Ctx): Case[] {
  const cat = 'admin query params';
  const cases: Case[] = [];
  const get = (
    name: string,
    query: Record<string, string>,
    expect: Expectation,
    path = '/admin/v1/calls',
  ) => {
    const qs = Object.entries(query)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&');
    cases.push(
      adminCase(
        ctx,
        cat,
        `${path}?${qs}${name ? ` (${name})` : ''}`,
        'GET',
        `${path}?${qs}`,
        undefined,
        expect,
      ),
    );
  };
  const paths = fc.constantFrom('/admin/v1/calls', '/admin/v1/usage');
  get('', { limit: 'abc', from: 'notadate' }, invalid('limit'));
  get('', { by: 'nope' }, invalid('by'), '/admin/v1/usage');
  const notDigits = fc.string({ maxLength: 12 }).filter((s) => !/^\d+$/.test(s));
  for (const [p, v] of sample(
    fc.tuple(paths, fc.oneof(notDigits, fc.constantFrom('-1', '1.5', '1e3', ' 5', '0x10'))),
    10,
    70,
  )) {
    get('', { limit: v }, invalid('limit'), p);
  }
  for (const [p, param, v] of sample(
    fc.tuple(paths, fc.constantFrom('from', 'to', 'before'), notADate),
    12,
    71,
  )) {
    get('', { [param]: v }, invalid(param), p);
  }
  const notDuration = fc
    .string({ minLength: 1, maxLength: 12 })
    .filter((s) => !/^\d+(ms|s|m|h|d|w)$/.test(s.trim()));
  for (const [p, v] of sample(
    fc.tuple(paths, fc.oneof(notDuration, fc.constantFrom('0s', '99999999999999999d', '-1h'))),
    8,
    72,
  )) {
    get('', { window: v }, invalid('window'), p);
  }
  const statuses = new Set(['pending', 'ok', 'denied', 'upstream_error', 'client_aborted', 'orphaned']);
  for (const v of sample(
    fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !statuses.has(s)),
    5,
    73,
  )) {
    get('', { status: v }, invalid('status'));
  }
  const dims = new Set([
    'team',
    'project',
    'env',
    'key',
    'model',
    'user',
    'feature',
    'provider',
    'cost_center',
  ]);
  for (const v of [
    ...sample(
      fc.string({ maxLength: 12 }).filter((s) => !dims.has(s)),
      6,
      74,
    ),
    '__proto__',
    'constructor',
    'TEAM',
  ]) {
    get('', { by: v }, invalid('by'), '/admin/v1/usage');
  }
  return cases;
}

/* ----------------------------------------------------------------------------------------- */
/* Inputs that expose bugs at the time of writing (see the suite for the expected behaviour) */
/* ----------------------------------------------------------------------------------------- */

/** JSON nested deeper than V8's stack allows to stringify (>~4k levels), in places the gateway walks or re-serializes. */
export function deepNestingCases(ctx: Ctx): Case[] {
  const cat = 'deep nesting';
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const refused: Expectation = { code: ['invalid_json', 'invalid_request'] };
  const chat = (name: string, extra: string) =>
    chatCase(
      ctx,
      cat,
      name,
      `{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"${extra}}]}`,
      refused,
    );
  return [
    chatCase(
      ctx,
      cat,
      'content = 10k nested arrays',
      `{"model":"gpt-4.1-mini","messages":[{"role":"user","content":${nest(10_000)}}]}`,
      refused,
    ),
    chat('unknown message field = 10k nested arrays', `,"extra":${nest(10_000)}`),
    chatCase(
      ctx,
      cat,
      'tools = 10k nested arrays',
      `{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"x"}],"tools":${nest(10_000)}}`,
      refused,
    ),
    chatCase(
      ctx,
      cat,
      'unknown top-level field = 10k nested arrays (re-serialized upstream)',
      `{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"x"}],"foo":${nest(10_000)}}`,
      refused,
    ),
    adminCase(
      ctx,
      cat,
      'POST /admin/v1/keys metadata = 10k nested arrays',
      'POST',
      '/admin/v1/keys',
      `{"team":"support","project":"bot","env":"dev","metadata":{"a":${nest(10_000)}}}`,
      refused,
    ),
    adminCase(
      ctx,
      cat,
      'POST /admin/v1/teams metadata = 10k nested arrays',
      'POST',
      '/admin/v1/teams',
      `{"id":"${uid('mf-deep')}","metadata":{"a":${nest(10_000)}}}`,
      refused,
    ),
    adminCase(
      ctx,
      cat,
      'POST /team/new metadata = 10k nested arrays',
      'POST',
      '/team/new',
      `{"team_alias":"${uid('mf-deep')}","metadata":{"a":${nest(10_000)}}}`,
      refused,
    ),
  ];
}

/** Invalid UTF-8 inside an otherwise valid JSON string: RFC 8259 §8.1 requires UTF-8. */
export function invalidUtf8InStringCases(ctx: Ctx): Case[] {
  return INVALID_UTF8.slice(0, 8).map((seq) => {
    const body = Buffer.concat([
      Buffer.from('{"model":"gpt-4.1-mini","max_tokens":5,"messages":[{"role":"user","content":"ab'),
      Buffer.from(seq),
      Buffer.from('cd"}]}'),
    ]);
    return chatCase(ctx, 'invalid UTF-8 in a string', `bytes ${show(seq)} in content`, body, INVALID_JSON);
  });
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** LiteLLM /team/new derives the team id from the alias; a derived id must still be a valid id. */
export function teamAliasSlugCases(ctx: Ctx): Case[] {
  const validId = (body: unknown) => {
    const id = (body as { team_id?: unknown }).team_id;
    return typeof id === 'string' && ID_PATTERN.test(id)
      ? null
      : `created team_id ${JSON.stringify(id)} is not a valid id`;
  };
  return ['ΩΩΩ', '---', '日本語チーム', '_lead', '!!!'].map((alias) =>
    adminCase(
      ctx,
      'team/new alias slug',
      `team_alias ${show(alias)}`,
      'POST',
      '/team/new',
      { team_alias: alias },
      {
        oneOf: [invalid(/^team_(alias|id)$/), { okWith: validId }],
      },
    ),
  );
}

/** LiteLLM /key/generate takes the project from metadata.project; it must be a valid id. */
export function keyGenerateProjectCases(ctx: Ctx): Case[] {
  return ['!!bad id!!', 'has space', '-lead', 'x'.repeat(129)].map((project) =>
    adminCase(
      ctx,
      'key/generate metadata.project',
      `metadata.project ${show(project)}`,
      'POST',
      '/key/generate',
      { team_id: 'support', metadata: { project } },
      invalid(/^metadata\.project$/),
    ),
  );
}

/** Budget errors raised after the schema check must still name the field in `param`. */
export function budgetParamCases(ctx: Ctx): Case[] {
  return [
    { kind: 'rolling', size: '0s' },
    { kind: 'rolling', size: '99999999999999d' },
    { kind: 'rolling', size: '1h', bucket: '0m' },
  ].map((window) =>
    adminCase(
      ctx,
      'budget error param',
      `window ${show(window)}`,
      'POST',
      '/admin/v1/budgets',
      { id: uid('mf-budget'), match: { team: 'support' }, limit: { usd: 1 }, window },
      invalid(/^window(\.|$)/),
    ),
  );
}
