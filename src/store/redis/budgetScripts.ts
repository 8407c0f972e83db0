import { SEED_LOST_REPLY, UNSEEDED_REPLY } from './errors.ts';
import { LuaScript } from './luaScript.ts';

/**
 * The budget counter scripts. Each runs atomically in Redis, so a reservation across all of a
 * call's policies is all or none for every replica at once.
 *
 * Money stays exact: amounts travel as decimal strings and reach HINCRBY as such (a Lua number
 * would be printed with 14 significant digits). Sums for the fit check are Lua doubles, exact
 * below 2^53 — above the $9M-per-counter limit the config already refuses.
 */
const PRELUDE = `
local FIELDS = { 'n', 't', 'r' }

local function read3(key)
  local v = redis.call('HMGET', key, 'n', 't', 'r')
  return { tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0 }
end

-- HINCRBY refuses '-0', and a zero needs no write anyway.
local function add(key, amount, sign)
  local wrote = false
  for u = 1, 3 do
    if amount[u] ~= '0' then
      redis.call('HINCRBY', key, FIELDS[u], sign .. amount[u])
      wrote = true
    end
  end
  return wrote
end

local function book(key, keepMs, amount)
  if add(key, amount, '') then redis.call('PEXPIRE', key, keepMs) end
end

-- Spend over the window's slots, and the 0-based index of the oldest slot holding any (-1: none).
local function windowSpend(keys)
  local spent = { 0, 0, 0 }
  local oldest = -1
  for j, key in ipairs(keys) do
    local v = read3(key)
    for u = 1, 3 do spent[u] = spent[u] + v[u] end
    if oldest < 0 and (v[1] ~= 0 or v[2] ~= 0 or v[3] ~= 0) then oldest = j - 1 end
  end
  return spent, oldest
end

-- Closes a reservation record: gives back what each line reserved and, if bookWith returns an
-- amount for the line, books it in the line's slot.
local function close(recordKey, leasesKey, id, bookWith)
  local raw = redis.call('GET', recordKey)
  if not raw then return nil end
  local record = cjson.decode(raw)
  for _, line in ipairs(record.lines) do
    add(line.r, line.a, '-')
    local amount = bookWith(line)
    if amount then book(line.s, line.k, amount) end
  end
  redis.call('DEL', recordKey)
  redis.call('ZREM', leasesKey, id)
  return raw
end

local function holdsSeedLock(key, token, lockMs)
  if redis.call('GET', key) ~= token then return false end
  redis.call('PEXPIRE', key, lockMs)
  return true
end
`;

const UNSEEDED = `return redis.error_reply('${UNSEEDED_REPLY} budget counters are not seeded')`;
const SEED_LOST = `return redis.error_reply('${SEED_LOST_REPLY} another replica took over the rebuild')`;

function script(name: string, body: string): LuaScript {
  return new LuaScript(name, `${PRELUDE}\n${body}`);
}

/**
 * KEYS: seeded, record, leases, then per line: reserved, booking slot, window slots (hard lines).
 * ARGV: id, atMs, leaseExpiresAtMs, line count, then per line: policy id, hard (1/0),
 *   cap n/t/r ('' = unlimited), amount n/t/r, keepMs of the booking slot, window slot count.
 * Reply: {1} reserved; {0, line, spent n/t/r, reserved n/t/r, oldest slot index} refused.
 */
export const RESERVE = script(
  'budget reserve',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('ERR reservation id already open: ' .. ARGV[1])
end
local lines = {}
local k, a = 4, 5
for i = 1, tonumber(ARGV[4]) do
  local line = {
    reserved = KEYS[k], booking = KEYS[k + 1], policy = ARGV[a], hard = ARGV[a + 1] == '1',
    caps = { ARGV[a + 2], ARGV[a + 3], ARGV[a + 4] },
    amount = { ARGV[a + 5], ARGV[a + 6], ARGV[a + 7] },
    keepMs = ARGV[a + 8], slots = {},
  }
  local count = tonumber(ARGV[a + 9])
  for j = 1, count do line.slots[j] = KEYS[k + 1 + j] end
  k = k + 2 + count
  a = a + 10
  lines[i] = line
end
-- Every hard line is checked before anything is written: all or none.
for i, line in ipairs(lines) do
  if line.hard then
    local spent, oldest = windowSpend(line.slots)
    local reserved = read3(line.reserved)
    for u = 1, 3 do
      local cap = line.caps[u]
      if cap ~= '' and spent[u] + reserved[u] + tonumber(line.amount[u]) > tonumber(cap) then
        return { 0, i, spent[1], spent[2], spent[3], reserved[1], reserved[2], reserved[3], oldest }
      end
    end
  end
end
local record = { at = ARGV[2], exp = ARGV[3], lines = {} }
for i, line in ipairs(lines) do
  add(line.reserved, line.amount, '')
  record.lines[i] = { p = line.policy, r = line.reserved, s = line.booking, k = line.keepMs, a = line.amount }
end
redis.call('SET', KEYS[2], cjson.encode(record))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return { 1 }
`,
);

/** KEYS: seeded, record, leases. ARGV: id, actual n/t/r. Reply: 1 settled, 0 not open. */
export const SETTLE = script(
  'budget settle',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
local actual = { ARGV[2], ARGV[3], ARGV[4] }
-- Booked in full even above the reservation: usage beyond the estimate is still spend.
if close(KEYS[2], KEYS[3], ARGV[1], function() return actual end) then return 1 end
return 0
`,
);

/** KEYS: seeded, record, leases. ARGV: id. Reply: 1 released, 0 not open. */
export const RELEASE = script(
  'budget release',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
if close(KEYS[2], KEYS[3], ARGV[1], function() return nil end) then return 1 end
return 0
`,
);

/**
 * KEYS: seeded, leases. ARGV: nowMs, limit, record key prefix.
 * Settles each reservation whose lease expired at or before now at what each line reserved.
 * Reply: {id, record JSON, id, record JSON, ...}.
 */
export const REAP = script(
  'budget reap',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local raw = close(ARGV[3] .. id, KEYS[2], id, function(line) return line.a end)
  if raw then
    out[#out + 1] = id
    out[#out + 1] = raw
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
`,
);

/**
 * KEYS: seeded, leases. ARGV: leaseExpiresAtMs, record key prefix, then the reservation ids.
 * Moves each open reservation's lease (its score and the record's `exp`, which the reaper reports)
 * to leaseExpiresAtMs unless it is already later. A closed id has no record and stays closed.
 * Reply: how many were open.
 */
export const RENEW = script(
  'budget renew',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
local expires = tonumber(ARGV[1])
local open = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('GET', ARGV[2] .. id)
  if raw then
    open = open + 1
    local record = cjson.decode(raw)
    if tonumber(record.exp) < expires then
      record.exp = ARGV[1]
      redis.call('SET', ARGV[2] .. id, cjson.encode(record))
      redis.call('ZADD', KEYS[2], ARGV[1], id)
    end
  end
end
return open
`,
);

/** KEYS: seeded, reserved, window slots. Reply: {spent n/t/r, reserved n/t/r, oldest slot index}. */
export const STATE = script(
  'budget state',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
local slots = {}
for j = 3, #KEYS do slots[#slots + 1] = KEYS[j] end
local spent, oldest = windowSpend(slots)
local reserved = read3(KEYS[2])
return { spent[1], spent[2], spent[3], reserved[1], reserved[2], reserved[3], oldest }
`,
);

/** KEYS: seeded, slot. ARGV: amount n/t/r, keepMs. */
export const ADD_SPENT = script(
  'budget add spent',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
book(KEYS[2], ARGV[4], { ARGV[1], ARGV[2], ARGV[3] })
return 1
`,
);

/** Rebuild write of settled spend. KEYS: seeding lock, slot. ARGV: token, lockMs, amount n/t/r, keepMs. */
export const SEED_SPENT = script(
  'budget rebuild spend',
  `
if not holdsSeedLock(KEYS[1], ARGV[1], ARGV[2]) then ${SEED_LOST} end
book(KEYS[2], ARGV[6], { ARGV[3], ARGV[4], ARGV[5] })
return 1
`,
);

/**
 * Rebuild write of a reservation that was open when Redis lost its data (a pending ledger row),
 * without a fit check: the call is already running. KEYS: seeding lock, record, leases, then per
 * line: reserved, booking slot. ARGV: token, lockMs, id, atMs, leaseExpiresAtMs, line count, then
 * per line: policy id, amount n/t/r, keepMs.
 */
export const SEED_RESERVATION = script(
  'budget rebuild reservation',
  `
if not holdsSeedLock(KEYS[1], ARGV[1], ARGV[2]) then ${SEED_LOST} end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('ERR reservation id already open: ' .. ARGV[3])
end
local record = { at = ARGV[4], exp = ARGV[5], lines = {} }
for i = 1, tonumber(ARGV[6]) do
  local a = 7 + (i - 1) * 5
  local reserved, booking = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local amount = { ARGV[a + 1], ARGV[a + 2], ARGV[a + 3] }
  add(reserved, amount, '')
  record.lines[i] = { p = ARGV[a], r = reserved, s = booking, k = ARGV[a + 4], a = amount }
end
redis.call('SET', KEYS[2], cjson.encode(record))
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
return 1
`,
);

/** KEYS: seeding lock, seeded. ARGV: token. Reply: 1 done, 0 the lock was lost. */
export const SEED_FINISH = script(
  'budget rebuild finish',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], '1')
redis.call('DEL', KEYS[1])
return 1
`,
);

/** KEYS: seeding lock. ARGV: token. Drops the lock if it is still ours. */
export const SEED_ABANDON = script(
  'budget rebuild abandon',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`,
);
