/**
 * The Lua scripts of Redis presence. A path's keys all start with `<prefix>{<path>}:presence:`,
 * so they share one hash tag (one Redis Cluster slot) and each script runs on one node:
 *   i          sorted set: instance id -> liveness deadline (ms, Redis TIME)
 *   u          hash: user key -> connections of that user on the instances in `i`
 *   r          sorted set: instance id -> when another instance reaped it
 *   m:<id>     hash: clientId -> entry JSON {"k": user key, "m": member, "c": ctx}, one per instance
 * KEYS[1] is always `i`; the `m:` key of another instance is named from it (same tag). Time is
 * only ever Redis TIME, so no two instances' clocks are compared. `u` lets a count be one HLEN:
 * every script keeps it equal to the user keys of the entries of the instances in `i`.
 */
import { REAPED_KEEP_MS } from './store.ts';

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function ms(n) return string.format('%d', n) end
local base = string.sub(KEYS[1], 1, -2)
local function membersOf(instance) return base .. 'm:' .. instance end
`;

/** KEYS: i, u, r, m:<me>; ARGV[1]: this instance, ARGV[2]: deadline ms, ARGV[3]: expiry ms. */
const PATH = `${NOW}
local instances, users, reaped, mine, me = KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1]
local function count(entry, by)
  local user = cjson.decode(entry).k
  if redis.call('HINCRBY', users, user, by) <= 0 then redis.call('HDEL', users, user) end
end
-- 0 ok, 1 absent, 2 reaped (another instance took this one for dead)
local function status()
  if redis.call('ZSCORE', reaped, me) then return 2 end
  if redis.call('ZSCORE', instances, me) then return 0 end
  return 1
end
-- Forgets one member of an instance (and the instance once it has none); whether it was there.
local function forget(instance, clientId)
  local key = membersOf(instance)
  local old = redis.call('HGET', key, clientId)
  if not old then return false end
  count(old, -1)
  redis.call('HDEL', key, clientId)
  if redis.call('EXISTS', key) == 0 then redis.call('ZREM', instances, instance) end
  return true
end
local function rebuildUsers()
  redis.call('DEL', users)
  for _, instance in ipairs(redis.call('ZRANGE', instances, 0, -1)) do
    for _, entry in ipairs(redis.call('HVALS', membersOf(instance))) do count(entry, 1) end
  end
end
-- Removes every other instance past its deadline and returns its entries: whoever runs this
-- reports them, and nobody else can, since they are gone.
local function reap()
  local ghosts, lost = {}, false
  for _, instance in ipairs(redis.call('ZRANGEBYSCORE', instances, '-inf', '(' .. ms(now))) do
    if instance ~= me then
      local key = membersOf(instance)
      local entries = redis.call('HVALS', key)
      -- An instance listed without members: its hash expired, and with it what 'u' must lose.
      if #entries == 0 then lost = true end
      for _, entry in ipairs(entries) do
        count(entry, -1)
        ghosts[#ghosts + 1] = entry
      end
      redis.call('DEL', key)
      redis.call('ZREM', instances, instance)
      redis.call('ZADD', reaped, ms(now), instance)
    end
  end
  if lost then rebuildUsers() end
  redis.call('ZREMRANGEBYSCORE', reaped, '-inf', '(' .. ms(now - ${REAPED_KEEP_MS}))
  return ghosts
end
local function live()
  redis.call('ZADD', instances, ms(now + tonumber(ARGV[2])), me)
  for _, key in ipairs({ instances, users, reaped, mine }) do redis.call('PEXPIRE', key, ARGV[3]) end
end
-- ms until the earliest deadline of another instance, -1 when there is none
local function nextDeadline()
  local first = redis.call('ZRANGE', instances, 0, 1, 'WITHSCORES')
  for n = 1, #first, 2 do
    if first[n] ~= me then return tonumber(first[n + 1]) - now end
  end
  return -1
end
`;

/**
 * ARGV[4]: clientId, [5]: entry, [6]: clientId it replaces or '', [7]: '1' if this instance
 * expects to be recorded in the path. Returns the status (absent only when expected).
 */
export const ADD = `${PATH}
if redis.call('ZCARD', instances) == 0 then redis.call('DEL', users) end
local s = status()
-- Not in 'i': nothing of this instance counts in 'u', so whatever its hash still holds is stale.
if s ~= 0 then redis.call('DEL', mine) end
if ARGV[6] ~= '' then
  for _, instance in ipairs(redis.call('ZRANGE', instances, 0, -1)) do
    if forget(instance, ARGV[6]) then break end
  end
end
if redis.call('HSET', mine, ARGV[4], ARGV[5]) == 1 then count(ARGV[5], 1) end
live()
if s == 1 and ARGV[7] ~= '1' then return 0 end
return s
`;

/** ARGV[4]: clientId. Returns the status; removes only when ok. */
export const REMOVE = `${PATH}
local s = status()
if s == 0 then forget(me, ARGV[4]) end
return s
`;

/** Returns { status, ghosts, ms to the next deadline }; beats and reaps only when ok. */
export const BEAT = `${PATH}
local s = status()
if s ~= 0 then return { s, {}, -1 } end
local ghosts = reap()
live()
return { 0, ghosts, nextDeadline() }
`;

/** ARGV[4..]: clientId, entry pairs (at least one). Returns { 2 if it had been reaped else 0, ghosts, ms to the next deadline }. */
export const REWRITE = `${PATH}
local s = status()
if s == 2 then redis.call('ZREM', reaped, me) end
redis.call('DEL', mine)
for n = 4, #ARGV, 2 do redis.call('HSET', mine, ARGV[n], ARGV[n + 1]) end
local ghosts = reap()
live()
-- This instance's old entries may or may not have counted: 'u' is counted again from scratch.
rebuildUsers()
return { s == 2 and 2 or 0, ghosts, nextDeadline() }
`;

/** Forgets this instance's members of the path. */
export const LEAVE = `${PATH}
if redis.call('ZSCORE', instances, me) then
  for _, entry in ipairs(redis.call('HVALS', mine)) do count(entry, -1) end
  redis.call('ZREM', instances, me)
end
redis.call('DEL', mine)
return 0
`;

/** KEYS: i. Entries of the instances within their deadline. */
export const MEMBERS = `${NOW}
local out = {}
for _, instance in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ms(now), '+inf')) do
  for _, entry in ipairs(redis.call('HVALS', membersOf(instance))) do out[#out + 1] = entry end
end
return out
`;

/**
 * KEYS: i, u. Users on the instances within their deadline: all of 'u', less the users whose
 * every connection is on an instance past its deadline but not reaped yet.
 */
export const COUNT = `${NOW}
local n = redis.call('HLEN', KEYS[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ms(now))
if #dead == 0 then return n end
local gone = {}
for _, instance in ipairs(dead) do
  for _, entry in ipairs(redis.call('HVALS', membersOf(instance))) do
    local user = cjson.decode(entry).k
    gone[user] = (gone[user] or 0) + 1
  end
end
for user, connections in pairs(gone) do
  local total = tonumber(redis.call('HGET', KEYS[2], user))
  if total and total <= connections then n = n - 1 end
end
return n
`;

/**
 * The instance-wide list of paths, one key of its own (`<prefix>presence:paths`): a sorted set of
 * '<instance> <path>' scored by when the entry runs out. KEYS: the list; ARGV[1]: ms an entry
 * lives, [2]: expiry ms of the list, [3..]: entries to list. Also drops the run-out ones.
 */
export const LIST_PATHS = `${NOW}
local score = ms(now + tonumber(ARGV[1]))
for n = 3, #ARGV do redis.call('ZADD', KEYS[1], score, ARGV[n]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ms(now))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`;

/** KEYS: the list. Its entries that have not run out. */
export const LISTED = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], ms(now), '+inf')
`;
