import { LuaScript } from './luaScript.ts';

/**
 * The rate limit scripts: the GCRA of src/ratelimit/gcra.ts line for line, over all of a call's
 * rules at once (all charged or none), so replicas share one bucket per rule and scope.
 *
 * Levels are integers (units × PERIOD_MS) below 2^53; they are written with '%.0f' because a
 * Lua number turned into a string keeps only 14 significant digits.
 *
 * Concurrency slots are a sorted set per scope, handle id -> lease expiry: a slot whose lease
 * ran out stops counting on the next read, so a dead replica's calls free their slots by
 * themselves.
 */
const PRELUDE = `
local PERIOD = 60000

local function opt(v)
  if v == nil or v == '' then return nil end
  return tonumber(v)
end

local function fmt(x) return string.format('%.0f', x) end

local function drain(level, limit, elapsed) return math.max(0, level - limit * math.max(0, elapsed)) end

local function waitFor(level, limit, units)
  local excess = level + units * PERIOD - limit * PERIOD
  if excess <= 0 then return 0 end
  return math.ceil(excess / limit)
end

local function stillHeld(chargeEnd, cost, limit, elapsed, refundedSince)
  return math.min(cost, math.max(0, chargeEnd - math.max(0, refundedSince) - limit * math.max(0, elapsed)))
end

-- A state made afresh (its key expired once full) has drained everything charged before.
local function newEpoch()
  local t = redis.call('TIME')
  return t[1] .. '.' .. t[2]
end

-- The levels drained to now; a clock that steps back drains nothing rather than refilling twice.
local function load(key, rpm, tpm, now)
  local v = redis.call('HMGET', key, 'rq', 'tk', 'at', 'rr', 'tr', 'ep')
  if not v[3] then return { rq = 0, tk = 0, at = now, rr = 0, tr = 0, ep = newEpoch() } end
  local at = tonumber(v[3])
  local state = { rq = 0, tk = 0, at = math.max(at, now), rr = tonumber(v[4]) or 0, tr = tonumber(v[5]) or 0,
    ep = v[6] or '' }
  if rpm then state.rq = drain(tonumber(v[1]) or 0, rpm, now - at) end
  if tpm then state.tk = drain(tonumber(v[2]) or 0, tpm, now - at) end
  return state
end

local function save(key, state, rpm, tpm)
  if not rpm and not tpm then return end
  local full = 0
  if rpm then full = math.max(full, math.ceil(state.rq / rpm)) end
  if tpm then full = math.max(full, math.ceil(state.tk / tpm)) end
  redis.call('HSET', key, 'rq', fmt(state.rq), 'tk', fmt(state.tk), 'at', fmt(state.at),
    'rr', fmt(state.rr), 'tr', fmt(state.tr), 'ep', state.ep)
  -- Once full again the state equals a fresh one; a minute more covers clocks a little apart.
  redis.call('PEXPIRE', key, full + PERIOD)
end

-- What of a line's charges the scope still holds: first in, first out, and refunds made since
-- (of other calls) moved it down the queue, as in src/ratelimit/gcra.ts stillHeld.
local function heldRequest(record, line, state, rpm, now)
  if line.ep ~= state.ep then return 0 end
  return stillHeld(tonumber(line.re), PERIOD, rpm, now - tonumber(record.at), state.rr - tonumber(line.rr))
end

local function heldTokens(record, line, state, tpm, now)
  if line.ep ~= state.ep then return 0 end
  return stillHeld(tonumber(line.te), tonumber(record.tk) * PERIOD, tpm, now - tonumber(record.at),
    state.tr - tonumber(line.tr))
end

local function giveBackRequest(state, amount)
  local refund = math.min(state.rq, amount)
  state.rq = state.rq - refund
  state.rr = state.rr + refund
end

local function giveBackTokens(state, amount)
  local refund = math.min(state.tk, amount)
  state.tk = state.tk - refund
  state.tr = state.tr + refund
end

local function openSlots(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key)
end

-- Closes a handle: onLine(line, rpm, tpm) adjusts each rule's levels, then its slot is freed.
local function close(recordKey, handlesKey, id, onLine)
  local raw = redis.call('GET', recordKey)
  if not raw then return 0 end
  local record = cjson.decode(raw)
  for _, line in ipairs(record.l) do
    if onLine then onLine(record, line, opt(line.rpm), opt(line.tpm)) end
    if line.cc ~= '' then redis.call('ZREM', line.c, id) end
  end
  redis.call('DEL', recordKey)
  redis.call('ZREM', handlesKey, id)
  return 1
end
`;

function script(name: string, body: string): LuaScript {
  return new LuaScript(name, `${PRELUDE}\n${body}`);
}

/**
 * KEYS: handle record, handles, then per rule: levels, slots.
 * ARGV: id, nowMs, tokens, leaseExpiresAtMs, keepMs (record and slot keys), rule count, then per
 *   rule: rpm, tpm, concurrency ('' = none).
 * Reply: {admitted 1/0, then per rule: request level, token level, open slots}. Levels are after
 * the charge when admitted, before it when refused (nothing is charged then).
 */
export const ACQUIRE = script(
  'rate limit acquire',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR rate limit handle already open: ' .. ARGV[1])
end
local now, tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
local rules = {}
local fits = true
for i = 1, tonumber(ARGV[6]) do
  local a = 4 + 3 * i
  local rule = { levels = KEYS[1 + 2 * i], slots = KEYS[2 + 2 * i],
    rpm = opt(ARGV[a]), tpm = opt(ARGV[a + 1]), cc = opt(ARGV[a + 2]),
    rpmText = ARGV[a], tpmText = ARGV[a + 1], ccText = ARGV[a + 2] }
  rule.state = load(rule.levels, rule.rpm, rule.tpm, now)
  rule.open = 0
  if rule.cc then rule.open = openSlots(rule.slots, now) end
  if rule.rpm and waitFor(rule.state.rq, rule.rpm, 1) > 0 then fits = false end
  if rule.tpm and (tokens > rule.tpm or waitFor(rule.state.tk, rule.tpm, tokens) > 0) then fits = false end
  if rule.cc and rule.open >= rule.cc then fits = false end
  rules[i] = rule
end
if fits then
  local record = { at = ARGV[2], tk = ARGV[3], l = {} }
  for i, rule in ipairs(rules) do
    if rule.rpm then rule.state.rq = rule.state.rq + PERIOD end
    if rule.tpm then rule.state.tk = rule.state.tk + tokens * PERIOD end
    if rule.cc then
      redis.call('ZADD', rule.slots, ARGV[4], ARGV[1])
      redis.call('PEXPIRE', rule.slots, ARGV[5])
      rule.open = rule.open + 1
    end
    save(rule.levels, rule.state, rule.rpm, rule.tpm)
    record.l[i] = { s = rule.levels, c = rule.slots, rpm = rule.rpmText, tpm = rule.tpmText, cc = rule.ccText,
      re = fmt(rule.state.rq), te = fmt(rule.state.tk), ep = rule.state.ep,
      rr = fmt(rule.state.rr), tr = fmt(rule.state.tr) }
  end
  redis.call('SET', KEYS[1], cjson.encode(record), 'PX', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
local out = { fits and 1 or 0 }
for _, rule in ipairs(rules) do
  out[#out + 1] = rule.state.rq
  out[#out + 1] = rule.state.tk
  out[#out + 1] = rule.open
end
return out
`,
);

/**
 * KEYS: handle record, handles. ARGV: id, actual tokens, nowMs. Reply 1 closed, 0 not open.
 * Usage above the estimate is charged (past full; the debt drains); below it, the unused part is
 * refunded, but only what time has not already given back (first in, first out).
 */
export const SETTLE = script(
  'rate limit settle',
  `
local actual, now = tonumber(ARGV[2]), tonumber(ARGV[3])
return close(KEYS[1], KEYS[2], ARGV[1], function(record, line, rpm, tpm)
  if not tpm then return end
  local state = load(line.s, rpm, tpm, now)
  local estimate = tonumber(record.tk)
  if actual >= estimate then
    state.tk = state.tk + (actual - estimate) * PERIOD
  else
    giveBackTokens(state, math.min((estimate - actual) * PERIOD, heldTokens(record, line, state, tpm, now)))
  end
  save(line.s, state, rpm, tpm)
end)
`,
);

/** KEYS: handle record, handles. ARGV: id. Frees the slots, keeps the charges. */
export const RELEASE = script(
  'rate limit release',
  `
return close(KEYS[1], KEYS[2], ARGV[1], nil)
`,
);

/** KEYS: handle record, handles. ARGV: id, nowMs. Gives back what is still held of the charges. */
export const CANCEL = script(
  'rate limit cancel',
  `
local now = tonumber(ARGV[2])
return close(KEYS[1], KEYS[2], ARGV[1], function(record, line, rpm, tpm)
  if not rpm and not tpm then return end
  local state = load(line.s, rpm, tpm, now)
  if rpm then giveBackRequest(state, heldRequest(record, line, state, rpm, now)) end
  if tpm then giveBackTokens(state, heldTokens(record, line, state, tpm, now)) end
  save(line.s, state, rpm, tpm)
end)
`,
);

/** KEYS: levels, slots. ARGV: nowMs, rpm, tpm, concurrency. Reply {request level, token level, open}. Read only. */
export const SNAPSHOT = script(
  'rate limit snapshot',
  `
local now = tonumber(ARGV[1])
local rpm, tpm, cc = opt(ARGV[2]), opt(ARGV[3]), opt(ARGV[4])
local state = load(KEYS[1], rpm, tpm, now)
local open = 0
if cc then open = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf') end
return { state.rq, state.tk, open }
`,
);

/**
 * KEYS: handles. ARGV: leaseExpiresAtMs, keepMs, record key prefix, then the handle ids.
 * Moves each open handle's lease, and that of its concurrency slots, to leaseExpiresAtMs unless
 * it is already later. A closed handle has no record and stays closed; a slot already dropped as
 * expired (an acquisition counted without it since) is not added back. Reply: how many were open.
 */
export const RENEW = script(
  'rate limit renew',
  `
local expires = tonumber(ARGV[1])
local open = 0
local function extend(key, id)
  local score = redis.call('ZSCORE', key, id)
  if not score then return false end
  if tonumber(score) < expires then redis.call('ZADD', key, 'XX', ARGV[1], id) end
  redis.call('PEXPIRE', key, ARGV[2])
  return true
end
for i = 4, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('GET', ARGV[3] .. id)
  if raw and extend(KEYS[1], id) then
    open = open + 1
    redis.call('PEXPIRE', ARGV[3] .. id, ARGV[2])
    for _, line in ipairs(cjson.decode(raw).l) do
      if line.cc ~= '' then extend(line.c, id) end
    end
  end
end
return open
`,
);

/** KEYS: handles. ARGV: nowMs, limit, record key prefix. Releases handles whose lease expired; reply: their ids. */
export const REAP = script(
  'rate limit reap',
  `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  if close(ARGV[3] .. id, KEYS[1], id, nil) == 1 then out[#out + 1] = id end
  redis.call('ZREM', KEYS[1], id)
end
return out
`,
);
