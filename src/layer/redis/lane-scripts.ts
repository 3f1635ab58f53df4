import { MAX_WAITING_EVENTS } from '../types.js';
import { LUA_CAPACITIES, LUA_GROUP_SEND, LUA_SEND, LUA_SENDS, LuaScript } from './scripts.js';

/*
 * A lane is a hash at "<prefix>gredis:lane:<lane>":
 *   next      the order whose turn it is (running, when owner is set)
 *   owner     client prefix of the process running `next`, absent when idle
 *   deadline  epoch seconds when the owner's lease ends
 *   state     the lane's saved state (stored message bytes)
 *   p:<n>     parked event n (stored message bytes): announced by the interface
 *             server before it sends the event, or parked by a worker that got
 *             it out of turn; parked = how many
 *   claim     the name of the claim that took the turn now running, if a claim
 *             did: the same claim sent again gets the turn again (LANE_CLAIM)
 *   handed    the event a finish handed over with the turn now running (its
 *             p:<n> moved here), kept until that turn ends or is taken over:
 *             a finish sent again (its first reply lost with the connection)
 *             gets it again instead of finding its turn over
 *   copies    the channel key where the lane's latest deposited events also
 *             sit, with the same bytes (see LUA_ANNOUNCE): a finish handing
 *             one over, or a rescue running one, removes that copy (dropCopy)
 *   ended     set once the lane's last event finished; the lane is then only
 *             this marker, kept as long as a copy of one of its events can
 *             still be delivered (the message expiry), so that a late copy is
 *             refused as stale rather than starting the lane anew
 * "<prefix>gredis:lanes" (one per host) indexes lanes with parked events, scored
 * by when they need attention: the owner's deadline, or when a gap gives up.
 * It expires as the lanes do: each script that sets the expiry of a lane the
 * index still lists sets the index's to the same ttl, so that the index outlives
 * every lane it lists (a worker finds parked lanes only through it) and goes
 * once they are all gone, when every process stopped with events still parked.
 * Its other writes (LANE_HOLD's, LANE_RESCUE's) leave a listed lane's expiry,
 * and so the index's, as it was.
 */

/**
 * Lua: refusedOf(writes) → the first command of `writes` (each {command,
 * args…}, as redis.call takes them, or false for one not to be made) that the
 * caller's ACL user may not run, else nil. Asked before a script's first write
 * with the writes its branch will make, not more: a user refused only a
 * command a lane never needs (ZREM, with no parked events) keeps working: Redis does not undo what a
 * script wrote before a command it refuses. By then only a command can be
 * refused: Redis checked the script's KEYS, for writing, before it ran it.
 * Run dry (LuaScript.dry), a refusal stops the dry run as a refused command does.
 */
const LUA_REFUSED = `
local function refusedOf(writes)
  for i = 1, table.maxn(writes) do
    local write = writes[i]
    if write and not redis.acl_check_cmd(unpack(write)) then return write[1] end
  end
  return nil
end
`;

/**
 * KEYS: lane, index. ARGV: lane name, order, owner, now, lease, gap, event, ttl,
 * claim (a name for this claim, unique in the owner; kept as the turn's 'claim').
 * Returns {'run', state-or-''} | {'parked'} | {'stale'}, or {'busy'} when the
 * event would have to be parked but was not given (event = ''): callers first
 * try without it, since an event usually runs at once and need not be stored.
 * Sent again after it landed (its reply lost: the connection cut, or the server
 * silent past the reply timeout and then resumed), a claim finds the turn it
 * took, not run yet, and gets 'run' again, its lease renewed: 'stale' would
 * leave the turn held by a live process that never runs it, and the lane's later
 * events parked behind it for the whole lease. {'refused', command}, with
 * nothing written, when the caller may not run one of its writes (LUA_REFUSED):
 * a claim cut short by one could take the announced copy of the event out and
 * not the turn, or park the event without counting it, so that no finish
 * handed it over (lost).
 */
export const LANE_CLAIM = new LuaScript(
  'laneClaim',
  `${LUA_REFUSED}
local order, now = tonumber(ARGV[2]), tonumber(ARGV[4])
local f = redis.call('HMGET', KEYS[1], 'next', 'owner', 'deadline', 'state', 'ended', 'parked', 'claim')
if f[5] then return {'stale'} end
local nxt = tonumber(f[1] or '0')
local parked = tonumber(f[6] or '0')
local refused
if order == nxt and f[2] == ARGV[3] and f[7] == ARGV[9] then
  refused = refusedOf({{'hset', KEYS[1], 'deadline', '0'}, parked > 0 and {'zadd', KEYS[2], '0', ARGV[1]}})
  if refused then return {'refused', refused} end
  local deadline = now + tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'deadline', deadline)
  -- The index scores a lane with parked events by its owner's deadline.
  if parked > 0 then redis.call('ZADD', KEYS[2], deadline, ARGV[1]) end
  return {'run', f[4] or ''}
end
if order < nxt or (order == nxt and f[2]) then return {'stale'} end
if order == nxt then
  refused = refusedOf({{'hset', KEYS[1], 'next', '0'}, {'expire', KEYS[1], '1'},
    parked > 0 and {'hdel', KEYS[1], 'p:0'}, parked == 1 and {'zrem', KEYS[2], ARGV[1]},
    parked > 0 and {'expire', KEYS[2], '1'}})
  if refused then return {'refused', refused} end
  -- Its announced copy is not needed any more: the caller runs the one it has.
  if parked > 0 and redis.call('HDEL', KEYS[1], 'p:' .. order) == 1 then
    parked = parked - 1
    if parked == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
    redis.call('HSET', KEYS[1], 'next', order, 'owner', ARGV[3], 'deadline', now + tonumber(ARGV[5]), 'parked', parked, 'claim', ARGV[9])
  else
    redis.call('HSET', KEYS[1], 'next', order, 'owner', ARGV[3], 'deadline', now + tonumber(ARGV[5]), 'claim', ARGV[9])
  end
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  -- Still listed (events parked behind it): the index outlives it.
  if parked > 0 then redis.call('EXPIRE', KEYS[2], ARGV[8]) end
  return {'run', f[4] or ''}
end
if ARGV[7] == '' and redis.call('HEXISTS', KEYS[1], 'p:' .. order) == 0 then return {'busy'} end
refused = refusedOf({{'hsetnx', KEYS[1], 'p:0', ''}, {'hincrby', KEYS[1], 'parked', '1'},
  {'zadd', KEYS[2], '0', ARGV[1]}, {'expire', KEYS[1], '1'}, {'expire', KEYS[2], '1'}})
if refused then return {'refused', refused} end
if redis.call('HSETNX', KEYS[1], 'p:' .. order, ARGV[7]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'parked', 1)
end
local due = now + tonumber(ARGV[6])
if f[2] then due = tonumber(f[3]) end
redis.call('ZADD', KEYS[2], 'LT', due, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[8])
return {'parked'}
`,
);

/**
 * Lua: turn() → the lane's next, owner and parked fields, or nil when the caller
 * no longer holds the turn of ARGV[2] (ARGV[3] is the caller). ARGV as LANE_FINISH.
 */
const LUA_TURN = `
local function turn()
  local f = redis.call('HMGET', KEYS[1], 'next', 'owner', 'parked')
  if f[2] ~= ARGV[3] or tonumber(f[1]) ~= tonumber(ARGV[2]) then return nil end
  return f
end
`;

/**
 * Whether the caller still holds the turn of ARGV[2], its lease renewed if so:
 * the check ahead of effects that cannot share a script with it (several
 * servers, encryption), applied one by one after it. Renewed, the turn cannot
 * lapse while they are applied, unless they take a whole lease. KEYS: lane,
 * index. ARGV as LANE_FINISH (7–10 not read). Returns 1 held, 0 lost, or
 * {'refused', command} with nothing written when the caller may not run one of
 * its writes (LUA_REFUSED): a hold cut short by one renewed the lease and left
 * the index scoring the lane by the old one, which every rescue check then
 * found due and not to take, and checked again 50 ms on, until the new lease
 * ran out.
 */
export const LANE_HOLD = new LuaScript(
  'laneHold',
  `${LUA_TURN}${LUA_REFUSED}
local f = turn()
if not f then return 0 end
local parked = tonumber(f[3] or '0')
local refused = refusedOf({{'hset', KEYS[1], 'deadline', '0'}, parked > 0 and {'zadd', KEYS[2], '0', ARGV[1]}})
if refused then return {'refused', refused} end
local deadline = tonumber(ARGV[4]) + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'deadline', deadline)
-- The index scores a lane with parked events by its owner's deadline.
if parked > 0 then redis.call('ZADD', KEYS[2], deadline, ARGV[1]) end
return 1
`,
);

/**
 * Gives back the turn of ARGV[2], not run (a stopping worker's): the lane is left
 * waiting for that order with no owner, so that the next claim of it runs at
 * once, and the event is deposited again (ARGV[7], stored bytes), past
 * MAX_WAITING_EVENTS too, as a claim parks: the caller then sends it again
 * (LANE_ANNOUNCE_SEND), and that copy goes to the end of its channel, behind
 * every event sent meanwhile. Under a flood (the lane at the bound, which
 * refuses that announce's deposit) the socket's later events are claimed, and
 * parked, first; without the deposit the rescue that takes the lane after the
 * gap would skip the event as lost, and its copy be dropped as stale when it
 * came. KEYS: lane, index. ARGV as LANE_FINISH 1–6, then the event and the
 * ttl. Returns 1, 0 when the caller no longer held the turn, or {'refused',
 * command} with nothing written when the caller may not run one of its writes
 * (LUA_REFUSED).
 */
export const LANE_RELEASE = new LuaScript(
  'laneRelease',
  `${LUA_TURN}${LUA_REFUSED}
if not turn() then return 0 end
local refused = refusedOf({{'hdel', KEYS[1], 'owner'}, {'hsetnx', KEYS[1], 'p:0', ''},
  {'hincrby', KEYS[1], 'parked', '1'}, {'zadd', KEYS[2], '0', ARGV[1]},
  {'expire', KEYS[1], '1'}, {'expire', KEYS[2], '1'}})
if refused then return {'refused', refused} end
redis.call('HDEL', KEYS[1], 'owner', 'deadline')
if redis.call('HSETNX', KEYS[1], 'p:' .. ARGV[2], ARGV[7]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'parked', 1)
end
-- As an announce: the lane needs attention once its gap has lasted too long.
redis.call('ZADD', KEYS[2], 'LT', tonumber(ARGV[4]) + tonumber(ARGV[6]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[8])
return 1
`,
);

/**
 * Lua: dropCopy(laneKey, event) takes back the channel copy of an event run
 * from its deposit (a finish's handover, a rescue): left there, a worker would
 * take it off the channel only to find it ran (a claim answered 'stale'), and
 * while the workers are behind, such copies filled the channel until Thyme,
 * finding it full, closed sockets with 1013 for a backlog of events that had
 * already run. A copy on another channel than the lane's 'copies' (the
 * socket's latest event went to another), one popped already, or one the
 * caller may not remove stays, to be dropped as stale: this is a saving, never
 * a reason to refuse. The check is called through a local so that a dry run
 * (LuaScript.dry), which turns the scripts' own checks into refusals, asks it
 * as the script does.
 */
const LUA_DROP_COPY = `
local mayDrop = redis.acl_check_cmd
local function dropCopy(laneKey, event)
  local key = redis.call('HGET', laneKey, 'copies')
  if key and mayDrop('zrem', key, event) then redis.call('ZREM', key, event) end
end
`;

/**
 * Lua: finish(f) ends the turn of ARGV[2] given turn()'s fields. ARGV as
 * LANE_FINISH. finishRefused(f) → a write finish(f) would make that the caller may
 * not (see LUA_REFUSED), else nil: asked first, since a finish cut short by one
 * left the turn's effects applied and the turn held (the finish sent again once
 * allowed applied them again), a parked event taken out and not handed over
 * (lost), or an ending lane deleted without its marker (a late event started it
 * anew).
 */
const LUA_FINISH = `${LUA_TURN}${LUA_REFUSED}${LUA_DROP_COPY}
-- The writes here are those of finish(f)'s branch: keep them in step.
local function finishRefused(f)
  local parked = tonumber(f[3] or '0')
  local index = parked > 0 and 'zadd'
  local clear = {'hdel', KEYS[1], 'owner'}
  if ARGV[9] == '1' then
    clear = {'del', KEYS[1]}
    index = parked > 0 and 'zrem'
  elseif parked == 1 and redis.call('HEXISTS', KEYS[1], 'p:' .. (tonumber(ARGV[2]) + 1)) == 1 then
    index = 'zrem' -- its last parked event, handed over
  end
  return refusedOf({clear, {'hset', KEYS[1], 'next', '0'}, {'expire', KEYS[1], '1'},
    index and {index, KEYS[2], '0', ARGV[1]}, index == 'zadd' and {'expire', KEYS[2], '1'}})
end
local function finish(f)
  local order, now = tonumber(ARGV[2]), tonumber(ARGV[4])
  -- The index holds a lane only while it has parked events: with none, no index work.
  local parked = tonumber(f[3] or '0')
  if ARGV[9] == '1' then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'ended', '1')
    redis.call('EXPIRE', KEYS[1], ARGV[10])
    if parked > 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
    return {'idle'}
  end
  local nxt = order + 1
  local event = parked > 0 and redis.call('HGET', KEYS[1], 'p:' .. nxt)
  local fields = {'next', nxt}
  if ARGV[8] == '1' then
    fields[3] = 'state'
    fields[4] = ARGV[7]
  end
  if event then
    redis.call('HDEL', KEYS[1], 'p:' .. nxt)
    dropCopy(KEYS[1], event)
    local deadline = now + tonumber(ARGV[5])
    fields[#fields + 1] = 'deadline'
    fields[#fields + 1] = deadline
    fields[#fields + 1] = 'handed'
    fields[#fields + 1] = event
    fields[#fields + 1] = 'parked'
    fields[#fields + 1] = parked - 1
    redis.call('HSET', KEYS[1], unpack(fields))
    redis.call('EXPIRE', KEYS[1], ARGV[10])
    if parked > 1 then
      redis.call('ZADD', KEYS[2], deadline, ARGV[1])
      redis.call('EXPIRE', KEYS[2], ARGV[10])
    else
      redis.call('ZREM', KEYS[2], ARGV[1])
    end
    return {'run', nxt, event}
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('HDEL', KEYS[1], 'owner', 'deadline', 'handed')
  redis.call('EXPIRE', KEYS[1], ARGV[10])
  if parked > 0 then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
    redis.call('EXPIRE', KEYS[2], ARGV[10])
  end
  return {'idle'}
end

-- The same finish sent again after it landed (its reply lost with the
-- connection: ioredis resent it, or the caller retried) finds its turn over,
-- and the next one running in the caller's name: it gets that turn's event
-- again, which nobody else will run. Nil otherwise.
local function handedAgain()
  local f = redis.call('HMGET', KEYS[1], 'next', 'owner', 'handed')
  if f[2] == ARGV[3] and f[3] and tonumber(f[1]) == tonumber(ARGV[2]) + 1 then
    return {'run', tonumber(f[1]), f[3]}
  end
  return nil
end
`;

/**
 * KEYS: lane, index. ARGV: lane name, order, owner, now, lease, gap, state,
 * has-state ('1'/'0'), end ('1'/'0'), ttl (the ended marker's when end is '1').
 * Returns {'run', order, event} (the caller now owns the next turn) | {'idle'} | {'lost'},
 * or {'refused', command} with nothing written (see finishRefused).
 * Sent again after it landed, it returns the same 'run' (see handedAgain).
 */
export const LANE_FINISH = new LuaScript(
  'laneFinish',
  `${LUA_FINISH}
local f = turn()
if not f then return handedAgain() or {'lost'} end
local refused = finishRefused(f)
if refused then return {'refused', refused} end
return finish(f)
`,
);

/**
 * Takes over lanes whose owner is gone (not among the live owners, when known)
 * or overdue, and lanes whose gap has lasted too long: the lost event is skipped
 * and the next parked one becomes the caller's turn.
 * Not while an event it would skip was announced at MAX_WAITING_EVENTS (not
 * deposited: see LUA_ANNOUNCE) less than ARGV[7] seconds ago (how long a late
 * copy of an event may still come): that event waits on its channel behind a
 * backlog, not lost, and skipped it would be dropped as stale when it came,
 * with every event up to the next deposit; the lane is looked at again then.
 * KEYS: index. ARGV: lane key prefix, now, owner, lease, limit, live owners
 * (comma-separated) or '*' when unknown, the late-copy window.
 * Returns {{lane, order, event, state, kind, due, ...}, seconds until the next entry
 * is due or ''}; `due` is the lane's score in the index (for a lane without an
 * owner, when its first waiting event was parked plus the gap); `kind` is 1
 * for the last event LANE_REAP planned (its holder is gone), 2 for the lane's
 * next event itself, run from its deposit (nothing was skipped: its channel copy
 * was not claimed in time, expired or popped by a process that died), 3 for an
 * event of a lane with no record of any turn ('next' is set by the first claim
 * and never removed but by the end): the lane's whole state was lost (a Redis
 * restart without persistence, a flush, an eviction, a delete), or its first
 * events never reached a claim and left no deposit (taken from the channel by a
 * process that died, with no deposit made), 0 for an event whose predecessor
 * was lost. A third element, when
 * the caller may not run a write of the next lane's (LUA_REFUSED): that
 * command; the check stopped there, having written nothing of that lane,
 * rather than take an event out of its lane and fail before returning it.
 */
export const LANE_RESCUE = new LuaScript(
  'laneRescue',
  `${LUA_REFUSED}${LUA_DROP_COPY}
local now, lease = tonumber(ARGV[2]), tonumber(ARGV[4])
local liveKnown = ARGV[6] ~= '*'
local live = {}
for id in string.gmatch(ARGV[6], '[^,]+') do live[id] = true end
local entries = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1, 'WITHSCORES')
local out, refused = {}, nil
for i = 1, #entries, 2 do
  local lane, due = entries[i], tonumber(entries[i + 1])
  local key = ARGV[1] .. lane
  local f = redis.call('HMGET', key, 'next', 'owner', 'deadline', 'parked', 'state', 'ended', 'reaped', 'over', 'overAt')
  if f[6] or tonumber(f[4] or '0') <= 0 then
    refused = refusedOf({{'zrem', KEYS[1], lane}})
    if refused then break end
    redis.call('ZREM', KEYS[1], lane)
  else
    local nxt = tonumber(f[1] or '0')
    local take = false
    if f[2] then
      if tonumber(f[3]) <= now or (liveKnown and not live[f[2]]) then
        nxt = nxt + 1
        take = true
      end
    elseif due <= now then
      take = true
    end
    local overUntil = tonumber(f[9] or '0') + tonumber(ARGV[7])
    if take and tonumber(f[8] or '-1') >= nxt and overUntil > now
      and redis.call('HEXISTS', key, 'p:' .. nxt) == 0 then
      take = false
      refused = refusedOf({{'zadd', KEYS[1], '0', lane}})
      if refused then break end
      redis.call('ZADD', KEYS[1], overUntil, lane)
    end
    if take then
      refused = refusedOf({{'hdel', key, 'p:0'}, {'hincrby', key, 'parked', '-1'},
        {'hset', key, 'next', '0'}, {'zadd', KEYS[1], '0', lane}, {'zrem', KEYS[1], lane}})
      if refused then break end
      local best = nil
      for _, name in ipairs(redis.call('HKEYS', key)) do
        if string.sub(name, 1, 2) == 'p:' then
          local o = tonumber(string.sub(name, 3))
          if o < nxt then
            redis.call('HDEL', key, name)
            redis.call('HINCRBY', key, 'parked', -1)
          elseif best == nil or o < best then
            best = o
          end
        end
      end
      if best then
        local event = redis.call('HGET', key, 'p:' .. best)
        redis.call('HDEL', key, 'p:' .. best)
        dropCopy(key, event)
        local left = redis.call('HINCRBY', key, 'parked', -1)
        redis.call('HSET', key, 'next', best, 'owner', ARGV[3], 'deadline', now + lease)
        redis.call('HDEL', key, 'handed')
        out[#out + 1] = lane
        out[#out + 1] = best
        out[#out + 1] = event
        out[#out + 1] = f[5] or ''
        local kind = 0
        if f[7] == tostring(best) then kind = 1
        elseif not f[2] and best == nxt then kind = 2
        elseif not f[1] then kind = 3 end
        out[#out + 1] = kind
        out[#out + 1] = tostring(due)
        if left > 0 then redis.call('ZADD', KEYS[1], now + lease, lane) else redis.call('ZREM', KEYS[1], lane) end
      else
        redis.call('HSET', key, 'next', nxt)
        redis.call('HDEL', key, 'owner', 'deadline', 'handed')
        redis.call('ZREM', KEYS[1], lane)
      end
    end
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = ''
if first[2] then wait = tostring(tonumber(first[2]) - now) end
return {out, wait, refused or false}
`,
);

/**
 * Plans the last event of lanes whose holder is gone (see RedisLanes.reapOrphans):
 * for each lane that is neither ended nor missing, the order after every event it
 * has seen — its turn (the one running, if any) and its parked events — so that
 * the last event runs after all of them. Nothing while the holder's mark does
 * not name the caller (the holder came back and took it). The order is kept
 * (field 'reaped'): a lane whose last event is parked, or running in a live
 * owner within its lease, is not planned again by a later reap but counted as
 * waiting (until it ends, someone's rescue may still have to run it: the reaper
 * that parked it may be gone); one whose event never arrived (its announce
 * failed) is planned again, at the same order; and one where that order ran
 * without ending the lane (a copy of the holder's own event, from its channel,
 * took its place) or is held by an owner that is gone or overdue gets a new
 * plan, after all that.
 * KEYS: the mark, then lane keys. ARGV: the caller, now, live owners (comma-separated).
 * Returns {{index into KEYS (from 2), order, ...}, lanes waiting}.
 */
export const LANE_REAP = new LuaScript(
  'laneReap',
  `
local out, waiting = {}, 0
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {out, waiting} end
local now = tonumber(ARGV[2])
local live = {}
for id in string.gmatch(ARGV[3], '[^,]+') do live[id] = true end
for i = 2, #KEYS do
  local key = KEYS[i]
  local f = redis.call('HMGET', key, 'next', 'owner', 'ended', 'parked', 'reaped', 'deadline')
  if not f[3] and redis.call('EXISTS', key) == 1 then
    local nxt, planned = tonumber(f[1] or '0'), tonumber(f[5])
    if planned and ((nxt == planned and f[2] and live[f[2]] and tonumber(f[6] or '0') > now)
        or redis.call('HEXISTS', key, 'p:' .. planned) == 1) then
      waiting = waiting + 1
    else
      local order = nxt
      if planned and (nxt < planned or (nxt == planned and not f[2])) then
        order = planned
      else
        if f[2] then order = order + 1 end
        if tonumber(f[4] or '0') > 0 then
          for _, name in ipairs(redis.call('HKEYS', key)) do
            if string.sub(name, 1, 2) == 'p:' then
              order = math.max(order, tonumber(string.sub(name, 3)) + 1)
            end
          end
        end
        redis.call('HSET', key, 'reaped', order)
      end
      out[#out + 1] = i
      out[#out + 1] = order
    end
  end
end
return {out, waiting}
`,
);

/** KEYS: a key. ARGV: a value. Deletes the key if it holds that value; returns 1 if it did. */
export const DELETE_IF_EQUAL = new LuaScript(
  'deleteIfEqual',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/** KEYS: counter. ARGV: window seconds. Returns the count after incrementing. */
export const COUNTER_INCREMENT = new LuaScript(
  'counterIncrement',
  `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
`,
);

/** KEYS: counter. Returns the count after taking one back (see Counters.decrement). */
export const COUNTER_DECREMENT = new LuaScript(
  'counterDecrement',
  `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
return redis.call('DECR', KEYS[1])
`,
);

/**
 * Lua: announce(laneKey, indexKey, lane, order, event, now, gap, ttl, copyKey)
 * → 1, or 0 when too late; announceRefused(laneKey, indexKey, lane) → a write
 * of it the caller may not run (see LUA_REFUSED), asked first. The interface
 * server's deposit of an event in its lane, before it sends the event: a
 * worker that takes the event from the channel and dies before claiming it
 * loses nothing, since whoever runs the lane next finds it here. No effect on
 * an event whose turn has passed, a lane that ended, or a lane that holds
 * MAX_WAITING_EVENTS. `copyKey`, given when the same script stored the event's
 * copy (the same bytes) on that channel key, is kept as the lane's 'copies',
 * written only when it changes (a socket's events are mostly on one channel),
 * so that a finish that hands the event over can take the copy back
 * (dropCopy).
 */
const LUA_ANNOUNCE = `${LUA_REFUSED}
local function announceRefused(laneKey, indexKey, lane)
  return refusedOf({{'hsetnx', laneKey, 'p:0', ''}, {'hincrby', laneKey, 'parked', '1'},
    {'hset', laneKey, 'over', '0'}, {'zadd', indexKey, '0', lane}, {'expire', laneKey, '1'},
    {'expire', indexKey, '1'}})
end
local function announce(laneKey, indexKey, lane, order, event, now, gap, ttl, copyKey)
  order = tonumber(order)
  local f = redis.call('HMGET', laneKey, 'next', 'owner', 'deadline', 'ended', 'parked', 'copies')
  local nxt = tonumber(f[1] or '0')
  -- Too late (a worker already claimed or ran it, the send having overtaken this):
  if f[4] or order < nxt or (order == nxt and f[2]) then return 0 end
  -- Full: nothing claims this lane's events (see MAX_WAITING_EVENTS), or they
  -- come faster than the workers take them. Its copy on the channel is then
  -- all there is: said in 'over' (the highest such order) and 'overAt', so that
  -- no rescue skips it as lost while that copy may still come (LANE_RESCUE).
  if tonumber(f[5] or '0') >= ${MAX_WAITING_EVENTS} then
    if tonumber(redis.call('HGET', laneKey, 'over') or '-1') < order then
      redis.call('HSET', laneKey, 'over', order, 'overAt', now)
    end
    return 0
  end
  if redis.call('HSETNX', laneKey, 'p:' .. order, event) == 1 then
    redis.call('HINCRBY', laneKey, 'parked', 1)
  end
  if copyKey and f[6] ~= copyKey then redis.call('HSET', laneKey, 'copies', copyKey) end
  local due = tonumber(now) + tonumber(gap)
  if f[2] then due = tonumber(f[3]) end
  redis.call('ZADD', indexKey, 'LT', due, lane)
  redis.call('EXPIRE', laneKey, ttl)
  redis.call('EXPIRE', indexKey, ttl)
  return 1
end
`;

/**
 * KEYS: lane, index. ARGV: lane name, order, event, now, gap, ttl. See
 * LUA_ANNOUNCE; {'refused', command}, with nothing written, when the caller may
 * not run one of its writes (announceRefused).
 */
export const LANE_ANNOUNCE = new LuaScript(
  'laneAnnounce',
  `${LUA_ANNOUNCE}
local refused = announceRefused(KEYS[1], KEYS[2], ARGV[1])
if refused then return {'refused', refused} end
return announce(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
`,
);

/**
 * An announce and the send of the same event as one atomic script (one server,
 * unencrypted), its stored bytes serving both: the event crosses the network
 * once and costs one call. When the channel is full, neither happens, so an event
 * its sender was told failed cannot run later from its lane.
 * KEYS: lane, index, channel key. ARGV: lane name, order, now, gap, ttl, then
 * SEND's: payload, score, cutoff, capacity, expiry. Returns 1 sent, 0 full,
 * or {'refused', command} with nothing sent or deposited when the caller may
 * not run one of the announce's writes (announceRefused): the send first, the
 * announce cut short after, had the event run while its sender was told it
 * failed, and its deposit left uncounted, so that no finish handed it over.
 *
 * Batched, the calls for one channel key share its work as SEND's batch does.
 */
export const LANE_ANNOUNCE_SEND = new LuaScript(
  'laneAnnounceSend',
  `${LUA_SEND}${LUA_ANNOUNCE}
local refused = announceRefused(KEYS[1], KEYS[2], ARGV[1])
if refused then return {'refused', refused} end
if send(KEYS[3], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]) == 0 then return 0 end
announce(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[6], ARGV[3], ARGV[4], ARGV[5], KEYS[3])
return 1
`,
  `${LUA_SENDS}${LUA_ANNOUNCE}
local calls = tonumber(ARGV[1])
local out, offers, batch = {}, {}, sends(BY_SEND)
local a = 2 + calls * 2
for i = 1, calls do
  local refused = announceRefused(KEYS[i * 3 - 2], KEYS[i * 3 - 1], ARGV[a])
  if refused then
    out[i] = {'refused', refused}
  else
    offers[i] = batch.offer(KEYS[i * 3], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9])
  end
  a = a + 10
end
-- Deposited once stored, as one by one: a store refused raises before any deposit.
local taken = batch.store()
a = 2 + calls * 2
for i = 1, calls do
  if offers[i] then
    if taken[offers[i]] then
      local k = i * 3 - 2
      announce(KEYS[k], KEYS[k + 1], ARGV[a], ARGV[a + 1], ARGV[a + 5], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], KEYS[k + 2])
      out[i] = 1
    else
      out[i] = 0
    end
  end
  a = a + 10
end
return out
`,
);

/**
 * Lua: effects() → failed, skipped. Applies a turn's effects, in order, from
 * ARGV[11] on: [11] cutoff, [12] expiry, [13] group cutoff, [14] key prefix,
 * [15] now (group scores), [16] group expiry, [17] effect count, [18] where the
 * capacity table starts, then the effects, each an op and its arguments (its
 * keys among them: one standalone server only):
 *   'S' key payload score capacity          a send
 *   'A' groupKey channel                     a group add
 *   'D' groupKey channel                     a group discard
 *   'G' groupKey prefix entries count score  a group send (see LUA_GROUP_SEND)
 * The first send that finds its channel full stops the rest (as the worker's
 * outbox does): `failed` is its index (1-based), else 0; `skipped` counts the
 * members group sends skipped.
 *
 * All or nothing for lack of permission: before the first effect, every write
 * of every effect is asked about (mayWrite: the channel keys of a group send's
 * members too, as the group adds and discards before it leave them), and one
 * refused raises, naming it, with nothing applied; `applying` is then its
 * effect's index. Redis, which checks a script's commands only as they run,
 * would keep the effects before the refused one, and a group send's copies to
 * the members before it: a turn sent again (a handler's flush tried again)
 * then delivered those twice. A group send's members read for the check are
 * the ones it sends to, unless a group add or discard of its group comes
 * first: one read of the group, not two.
 */
const LUA_EFFECTS = `${LUA_SEND}${LUA_CAPACITIES}${LUA_GROUP_SEND}
local BY_EFFECTS = "a lane turn's effects before any was applied"
local applying = 0
local function effectsAllowed()
  local i, changes, groupedOf = 19, {}, {}
  for n = 1, tonumber(ARGV[17]) do
    applying = n
    local op, key = ARGV[i], ARGV[i + 1]
    if op == 'S' then
      mayWrite(BY_EFFECTS, 'zremrangebyscore', key, 0, ARGV[11])
      mayWrite(BY_EFFECTS, 'zadd', key, 0, '')
      mayWrite(BY_EFFECTS, 'expire', key, ARGV[12])
      i = i + 5
    elseif op == 'A' or op == 'D' then
      if op == 'A' then
        mayWrite(BY_EFFECTS, 'zadd', key, 0, '')
        mayWrite(BY_EFFECTS, 'expire', key, ARGV[16])
      else
        mayWrite(BY_EFFECTS, 'zrem', key, '')
      end
      changes[key] = changes[key] or {}
      table.insert(changes[key], { op, ARGV[i + 2] })
      i = i + 3
    else
      mayWrite(BY_EFFECTS, 'zremrangebyscore', key, 0, ARGV[13])
      local members = liveMembers(key, ARGV[13])
      -- Checked per channel key, not per member: a group's members share a
      -- few keys (one per Thyme process). Grouped once, for the send too.
      local grouped
      if changes[key] then
        local isMember, names = {}, {}
        for _, name in ipairs(members) do isMember[name] = true end
        for _, change in ipairs(changes[key]) do isMember[change[2]] = change[1] == 'A' end
        for name, member in pairs(isMember) do
          if member then names[#names + 1] = name end
        end
        grouped = membersByKey(names)
      else
        grouped = membersByKey(members)
        groupedOf[n] = grouped
      end
      for _, channelKey in ipairs(grouped.keys) do
        channelKey = ARGV[14] .. channelKey
        mayWrite(BY_EFFECTS, 'zremrangebyscore', channelKey, 0, ARGV[11])
        mayWrite(BY_EFFECTS, 'zadd', channelKey, 0, '')
        mayWrite(BY_EFFECTS, 'expire', channelKey, ARGV[12])
      end
      i = i + 6
    end
  end
  return groupedOf
end
local function effects()
  local groupedOf = effectsAllowed()
  local capacityOf = capacities(ARGV, tonumber(ARGV[18]))
  local i, skipped = 19, 0
  for n = 1, tonumber(ARGV[17]) do
    applying = n
    local op = ARGV[i]
    if op == 'S' then
      if send(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[11], ARGV[i + 4], ARGV[12]) == 0 then
        return n, skipped
      end
      i = i + 5
    elseif op == 'A' then
      redis.call('ZADD', ARGV[i + 1], ARGV[15], ARGV[i + 2])
      redis.call('EXPIRE', ARGV[i + 1], ARGV[16])
      i = i + 3
    elseif op == 'D' then
      redis.call('ZREM', ARGV[i + 1], ARGV[i + 2])
      i = i + 3
    else
      local _, s = groupSend(ARGV[i + 1], ARGV[13], ARGV[14], ARGV[i + 5], ARGV[11], ARGV[12],
        ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], capacityOf, groupedOf[n])
      skipped = skipped + s
      i = i + 6
    end
  end
  return 0, skipped
end
`;

/**
 * Lua: applied() → failed, skipped, refused: effects(), except that an effect
 * refused for lack of permission (effects() asks about every write before the
 * first, and raises "ERR The user executing the script can't …", as Redis 7
 * does for a command inside a script) fails the effects, none of them applied,
 * rather than the whole script: without this the turn's finish never ran, the
 * lane held for a whole lease. `failed` is then the refused effect's index and
 * `refused` the refusal, else false. Any other error is raised, as before.
 */
const LUA_APPLIED = `${LUA_EFFECTS}
local function applied()
  local ran, failed, skipped = pcall(effects)
  if ran then return failed, skipped, false end
  local message = type(failed) == 'table' and failed.err or tostring(failed)
  if not string.find(message, "The user executing the script can't", 1, true) then error(failed, 0) end
  return applying, 0, message
end
`;

/**
 * A turn's effects alone, from ARGV[11] on (see LUA_EFFECTS): never run, only
 * run dry by the readiness probe (LuaScript.dry) after LANE_COMMIT or
 * LANE_APPLY replied that an effect was refused, to find out when the same
 * effects are allowed. Their turn is over by then, which would end the dry
 * run of LANE_COMMIT itself before it reached them.
 */
export const LANE_EFFECTS = new LuaScript(
  'laneEffects',
  `${LUA_EFFECTS}
local failed, skipped = effects()
return {failed, skipped}
`,
);

/**
 * A turn's effects and its finish as one atomic script (one server, unencrypted):
 * nothing is applied when the turn was lost or its finish would be refused
 * (finishRefused), and the effects and the turn's end are never seen apart. The
 * turn ends even when an effect failed.
 * KEYS, and ARGV[1..10]: as LANE_FINISH; from ARGV[11] on, the effects (see
 * LUA_EFFECTS). Returns {LANE_FINISH's reply, index of the effect that failed or
 * 0, members skipped by group sends, Redis's refusal of the failed effect if it
 * was refused for lack of permission (LUA_APPLIED)}.
 */
export const LANE_COMMIT = new LuaScript(
  'laneCommit',
  `${LUA_APPLIED}${LUA_FINISH}
local f = turn()
-- Sent again after it landed, its effects were applied with the first.
if not f then return {handedAgain() or {'lost'}, 0, 0} end
local refusedFinish = finishRefused(f)
if refusedFinish then return {{'refused', refusedFinish}, 0, 0} end
local failed, skipped, refused = applied()
return {finish(f), failed, skipped, refused}
`,
);

/**
 * Effects of a turn still running, ahead of its finish (a handler that flushes),
 * as one atomic script (one server, unencrypted): nothing is applied when the
 * turn was lost, and the effects are never seen apart (a join's answer and its
 * group add: no group send lands between them). ARGV as LANE_COMMIT's (7–10 are
 * not read). Returns {'lost'} | {'ok', index of the effect that failed or 0,
 * members skipped by group sends, Redis's refusal as LANE_COMMIT's}.
 */
export const LANE_APPLY = new LuaScript(
  'laneApply',
  `${LUA_APPLIED}${LUA_TURN}
if not turn() then return {'lost'} end
local failed, skipped, refused = applied()
return {'ok', failed, skipped, refused}
`,
);
