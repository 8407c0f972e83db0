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

local function isZero(v)
  return v[1] == 0 and v[2] == 0 and v[3] == 0
end

-- Counters stay below 2^53, so a double prints exactly as an integer (tostring would use 1e+12).
local function int(x)
  return string.format('%.0f', x)
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

-- Key names built here follow BudgetKeys (budgetKeys.ts). They are not declared in KEYS, which
-- Redis Cluster allows because they carry the prefix's hash tag ({budgets}): one slot, one node.
local function slotKey(prefix, policyKey, slot)
  return prefix .. ':spent:' .. policyKey .. ':' .. int(slot)
end

local function runningSumKey(prefix, policyKey)
  return prefix .. ':win:' .. policyKey
end

-- A running sum (see rollingSpend) counts spend booked into a slot it covers. Its invariant:
-- n/t/r = the sum of the slots f..l, o = the oldest of them holding spend (-1: none).
local function addToRunningSum(sumKey, slot, amount)
  local w = redis.call('HMGET', sumKey, 'f', 'l', 'o')
  local from, to = tonumber(w[1]), tonumber(w[2])
  -- Absent: derived from the slots when next read. Outside: a late settle past the window
  -- (never counted again) or spend ahead of the window (read when the window reaches it).
  if not from or not to or slot < from or slot > to then return end
  add(sumKey, amount, '')
  local oldest = tonumber(w[3]) or -1
  if oldest < 0 or slot < oldest then redis.call('HSET', sumKey, 'o', int(slot)) end
end

-- Rolling slot keys are <prefix>:spent:<id>|rolling:<size>:<bucket>:<slot>, the id URI-encoded
-- (no ':' or '|'), so the policy key and slot parse back unambiguously. Calendar keys do not match.
local function book(key, keepMs, amount)
  if not add(key, amount, '') then return end
  redis.call('PEXPIRE', key, keepMs)
  local prefix, policyKey, slot = string.match(key, '^(.*):spent:([^:|]*|rolling:%d+:%d+):(%d+)$')
  if prefix then addToRunningSum(runningSumKey(prefix, policyKey), tonumber(slot), amount) end
end

-- Reads slots from..to (inclusive, step bucket) into total with the given sign (1 or -1).
-- Reply: the oldest of them holding spend (-1: none).
local function sumSlots(prefix, policyKey, from, to, bucket, total, sign)
  local oldest = -1
  for s = from, to, bucket do
    local v = read3(slotKey(prefix, policyKey, s))
    if not isZero(v) then
      for u = 1, 3 do total[u] = total[u] + sign * v[u] end
      if oldest < 0 then oldest = s end
    end
  end
  return oldest
end

-- First slot of from..to holding spend (-1: none).
local function firstWithSpend(prefix, policyKey, from, to, bucket)
  for s = from, to, bucket do
    if not isZero(read3(slotKey(prefix, policyKey, s))) then return s end
  end
  return -1
end

local function slotCount(from, to, bucket)
  if to < from then return 0 end
  return (to - from) / bucket + 1
end

--[[
Spend of a rolling window whose slots are first..last, and the oldest slot holding spend (-1).
Amortized O(1): the running sum <prefix>:win:<policy> covers slots f..l; it is moved to
first..last by subtracting the slots that left and adding those that came in, each read once.
It is rebuilt from the slots (at most MAX_ROLLING_BUCKETS + 1 reads) when absent (a fresh or
rebuilt store, a layout without running sums, expired while idle), when moving it would read as
many slots as rebuilding, or when either end is more than half a window away. That last bound
keeps every slot it subtracts alive: slots are kept until two windows past their bucket, so a
slot at most half a window older than the current window still holds its spend. Only moves
forward are stored: a replica whose clock is a little behind gets its own window's sum without
pulling the shared one back (which the next replica would then have to move forward again).
]]
local function rollingSpend(prefix, policyKey, first, last, bucket, size)
  local sumKey = runningSumKey(prefix, policyKey)
  local w = redis.call('HMGET', sumKey, 'n', 't', 'r', 'f', 'l', 'o')
  local from, to = tonumber(w[4]), tonumber(w[5])
  local spent, oldest
  local near = from and to and math.abs(first - from) * 2 <= size and math.abs(last - to) * 2 <= size
  local leftBelow, leftAbove, cameBelow, cameAbove
  if near then
    -- The slots of f..l outside first..last, and of first..last outside f..l.
    leftBelow = { from, math.min(to, first - bucket) }
    leftAbove = { math.max(from, last + bucket), to }
    cameBelow = { first, math.min(last, from - bucket) }
    cameAbove = { math.max(first, to + bucket), last }
    local moved = slotCount(leftBelow[1], leftBelow[2], bucket) + slotCount(leftAbove[1], leftAbove[2], bucket)
      + slotCount(cameBelow[1], cameBelow[2], bucket) + slotCount(cameAbove[1], cameAbove[2], bucket)
    near = moved < slotCount(first, last, bucket)
  end
  if near then
    if first == from and last == to then
      return { tonumber(w[1]) or 0, tonumber(w[2]) or 0, tonumber(w[3]) or 0 }, tonumber(w[6]) or -1
    end
    spent = { tonumber(w[1]) or 0, tonumber(w[2]) or 0, tonumber(w[3]) or 0 }
    local was = tonumber(w[6]) or -1
    sumSlots(prefix, policyKey, leftBelow[1], leftBelow[2], bucket, spent, -1)
    sumSlots(prefix, policyKey, leftAbove[1], leftAbove[2], bucket, spent, -1)
    local below = sumSlots(prefix, policyKey, cameBelow[1], cameBelow[2], bucket, spent, 1)
    local above = sumSlots(prefix, policyKey, cameAbove[1], cameAbove[2], bucket, spent, 1)
    -- Kept slots: every one older than the old oldest is empty; above it, unknown.
    oldest = -1
    if was >= first and was <= last then
      oldest = was
    elseif was >= 0 and was < first then
      oldest = firstWithSpend(prefix, policyKey, math.max(from, first), math.min(to, last), bucket)
    end
    if below >= 0 then oldest = below end
    if oldest < 0 then oldest = above end
  else
    spent = { 0, 0, 0 }
    oldest = sumSlots(prefix, policyKey, first, last, bucket, spent, 1)
  end
  -- A rebuilt sum is stored whichever way it moved: it is exact, and it paid the full read.
  if not near or (first >= from and last >= to) then
    redis.call('HSET', sumKey, 'n', int(spent[1]), 't', int(spent[2]), 'r', int(spent[3]),
      'f', int(first), 'l', int(last), 'o', int(oldest))
    redis.call('PEXPIRE', sumKey, 2 * size + bucket)
  end
  return spent, oldest
end

-- Spend of the window described by ARGV[a .. a + 5]: policy key, kind ('c' calendar: one slot,
-- 'r' rolling), first slot, last slot, bucket ms, size ms. Reply: spent, oldest slot with spend.
local function windowSpend(prefix, a)
  local policyKey, kind, first = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  if kind == 'c' then
    local v = read3(slotKey(prefix, policyKey, first))
    return v, isZero(v) and -1 or first
  end
  return rollingSpend(prefix, policyKey, first, tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]))
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

/** ARGV fields per reserve line: policy id, hard, caps, amount, keepMs, then the window (windowSpend). */
const RESERVE_LINE_ARGS = 15;

/**
 * KEYS: seeded, record, leases, then per line: reserved, booking slot.
 * ARGV: id, atMs, leaseExpiresAtMs, line count, key prefix, then per line: policy id, hard (1/0),
 *   cap n/t/r ('' = unlimited), amount n/t/r, keepMs of the booking slot, then the window:
 *   policy key, kind (c/r), first slot, last slot, bucket ms, size ms (see windowSpend).
 * Reply: {1} reserved; {0, line, spent n/t/r, reserved n/t/r, oldest slot with spend (-1)} refused.
 */
export const RESERVE = script(
  'budget reserve',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('ERR reservation id already open: ' .. ARGV[1])
end
local prefix = ARGV[5]
local lines = {}
for i = 1, tonumber(ARGV[4]) do
  local k, a = 2 + 2 * i, 6 + (i - 1) * ${RESERVE_LINE_ARGS}
  lines[i] = {
    reserved = KEYS[k], booking = KEYS[k + 1], policy = ARGV[a], hard = ARGV[a + 1] == '1',
    caps = { ARGV[a + 2], ARGV[a + 3], ARGV[a + 4] },
    amount = { ARGV[a + 5], ARGV[a + 6], ARGV[a + 7] },
    keepMs = ARGV[a + 8], window = a + 9,
  }
end
-- Every hard line is checked before anything is written: all or none. (Moving a running sum
-- is not a write of spend: it holds the same total either way.)
for i, line in ipairs(lines) do
  if line.hard then
    local spent, oldest = windowSpend(prefix, line.window)
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

/**
 * KEYS: seeded, reserved. ARGV: key prefix, then the window (see windowSpend).
 * Reply: {spent n/t/r, reserved n/t/r, oldest slot with spend (-1)}.
 */
export const STATE = script(
  'budget state',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then ${UNSEEDED} end
local spent, oldest = windowSpend(ARGV[1], 2)
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
