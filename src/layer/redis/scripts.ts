import { createHash } from 'node:crypto';

/**
 * The commands of the layer's scripts that only read, which a dry run
 * (LuaScript.dry) runs: what it skips must be a write, or the dry run would
 * steer by a read that never happened. Every command a script calls must be
 * either a read here or a write by Redis's own flags (COMMAND INFO): a test
 * (layer-redis.test.ts) checks it against the server.
 */
export const DRY_READS = [
  'exists',
  'get',
  'hexists',
  'hget',
  'hkeys',
  'hmget',
  'zcard',
  'zrange',
  'zscore',
] as const;

/** A Lua script run by EVALSHA, falling back to EVAL once when the server lacks it. */
export class LuaScript {
  readonly sha: string;
  /**
   * The script this is the batched or dry form of, or this one: what a refusal
   * of either form is recorded for (RedisHost.refusals), since both run the
   * same commands.
   */
  readonly plain: LuaScript;
  private batchedScript: LuaScript | undefined;
  private dryScript: LuaScript | undefined;

  constructor(
    readonly name: string,
    readonly source: string,
    /** A batched form that does better than one call after the other (see `batched`). */
    private readonly batchedSource?: string,
    formOf?: LuaScript,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
    this.plain = formOf ?? this;
  }

  /**
   * The same script run for many calls in one EVAL: each call's KEYS and ARGV
   * are cut out of the flat ones (ARGV starts with the call count, then each
   * call's key and argument counts), and the replies come back as a list.
   * One round trip and one command for a burst of calls instead of one each.
   */
  get batched(): LuaScript {
    this.batchedScript ??= new LuaScript(
      `${this.name}*`,
      this.batchedSource ??
        `
local function call(KEYS, ARGV)
${this.source}
end
local calls = tonumber(ARGV[1])
local out = {}
local nextKey, nextArg = 1, 2 + calls * 2
for i = 1, calls do
  local keys, args = {}, {}
  for j = 1, tonumber(ARGV[i * 2]) do
    keys[j] = KEYS[nextKey]
    nextKey = nextKey + 1
  end
  for j = 1, tonumber(ARGV[i * 2 + 1]) do
    args[j] = ARGV[nextArg]
    nextArg = nextArg + 1
  end
  local result = call(keys, args)
  if result == nil then result = false end
  out[i] = result
end
return out
`,
      undefined,
      this,
    );
    return this.batchedScript;
  }

  /**
   * This script run with the same KEYS and ARGV without writing anything, to
   * ask whether the layer's user may run it now (RedisHost.probe): each
   * command it would run is checked with redis.acl_check_cmd on the keys it
   * names; only the reads run (on to the keys a group send computes from its
   * members), and the writes are skipped, replying 0 (a lane script's HSETNX
   * or HDEL then steers it as if it did nothing). Returns the first refused
   * command's name, not an error reply, which would be taken for this script's
   * own refusal; or 1 when none is, also when the dry run fails otherwise (a
   * skipped write's reply it could not use): at worst one more refused call
   * then, never a host kept out of service for good. EVALSHA and the declared
   * KEYS are checked as for the script itself, before it runs. The script's
   * own redis.acl_check_cmd (a lane finish's check ahead of its writes) stops
   * the dry run when it refuses, as a refused command does.
   *
   * Why not ask less: Redis checks a script's own commands only as they run,
   * and its refusal names neither the command nor the key (refusals.ts). A
   * probe that checked only EVALSHA on the declared KEYS would pass while a
   * ZADD on a member key is still refused, and readiness would flap: ready,
   * traffic, refused, not ready. Asking about fixed lists of commands and
   * keys instead would miss the keys a group send computes.
   */
  get dry(): LuaScript {
    this.dryScript ??= new LuaScript(
      `${this.name}?`,
      `
local READS = { ${DRY_READS.map((name) => `${name} = true`).join(', ')} }
local function allowed(command, ...)
  if not redis.acl_check_cmd(command, ...) then error({ refused = command }) end
  return true
end
local function dry(command, ...)
  allowed(command, ...)
  if READS[string.lower(command)] then return redis.call(command, ...) end
  return 0
end
local function run()
${this.source.replaceAll('redis.call(', 'dry(').replaceAll('redis.acl_check_cmd(', 'allowed(')}
end
local ran, failure = pcall(run)
if not ran and type(failure) == 'table' and failure.refused then return failure.refused end
return 1
`,
      undefined,
      this.plain,
    );
    return this.dryScript;
  }
}

/**
 * Lua: mayWrite(asker, command, key, ...) raises, unless the caller's ACL user
 * may run `command` on `key` (its arguments as redis.call takes them), a
 * refusal worded as Redis's of a command inside a script (refusals.ts), naming
 * the command and the key, and who asked when (BY_SEND, BY_GROUP_SEND: before
 * it stored anything). Asked about every write of a store before the first:
 * Redis checks a script's commands only as they run, and keeps what the ones
 * before a refused command wrote. Each command and key is asked about once
 * per script call (redis.acl_check_cmd costs about a tenth of a microsecond),
 * not once per message.
 */
export const LUA_MAY_WRITE = `
local BY_SEND, BY_GROUP_SEND = 'a send before it stored anything', 'a group send before it stored anything'
local mayWriteAsked = {}
local function mayWrite(asker, command, key, ...)
  local asked = command .. ' ' .. key
  if mayWriteAsked[asked] then return end
  if not redis.acl_check_cmd(command, key, ...) then
    error({ err = "ERR The user executing the script can't run the '" .. command ..
      "' command on the key '" .. key .. "' (asked by " .. asker .. ")" })
  end
  mayWriteAsked[asked] = true
end
`;

/**
 * Lua: sends(asker) → a batch of sends that share each key's work: offer(key,
 * payload, score, cutoff, capacity, expiry) → the offer's number, and store() →
 * the numbers of the offers the keys took (taken[n] is true): the first ones of
 * each key, until it is full, as one by one. One expiry sweep, one count, one
 * ZADD and one EXPIRE per key.
 *
 * All or nothing for lack of permission: store() asks about every write it will
 * make to every key (ZREMRANGEBYSCORE, ZADD, EXPIRE: mayWrite) before the first,
 * and stores nothing when one is refused, raising a refusal that names it, so
 * that the send fails as refused (LayerUnavailable), truthfully: no message is
 * in, and sending them again will not deliver any twice. Without it a group
 * send (whose keys the script computes: Redis checks only the declared KEYS
 * before running a script) whose user may write some members' keys and not
 * others' (per-key ACL patterns) stored to the keys before the refused one and
 * failed; and a user without EXPIRE had a message stored for good.
 * channels_redis, whose EXPIRE follows its ZADD, fails after storing a message
 * that then never expires. offer() neither reads nor writes: every key is
 * known before store() asks. A key asked about that turns out full is refused
 * rather than full: the user may not send to it either way.
 */
export const LUA_SENDS = `${LUA_MAY_WRITE}
local function sends(asker)
  local byKey, keys, count, batch = {}, {}, 0, {}
  function batch.offer(key, payload, score, cutoff, capacity, expiry)
    local k = byKey[key]
    if not k then
      k = { cutoff = cutoff, offers = {} }
      byKey[key] = k
      keys[#keys + 1] = key
    end
    count = count + 1
    k.offers[#k.offers + 1] = { n = count, payload = payload, score = score, capacity = tonumber(capacity) }
    k.expiry = expiry
    return count
  end
  function batch.store()
    for _, key in ipairs(keys) do
      local k = byKey[key]
      mayWrite(asker, 'zremrangebyscore', key, 0, k.cutoff)
      mayWrite(asker, 'zadd', key, 0, '')
      mayWrite(asker, 'expire', key, k.expiry)
    end
    local taken = {}
    for _, key in ipairs(keys) do
      local k = byKey[key]
      redis.call('ZREMRANGEBYSCORE', key, 0, k.cutoff)
      local stored, adds = redis.call('ZCARD', key), {}
      for _, offer in ipairs(k.offers) do
        if stored < offer.capacity then
          stored = stored + 1
          adds[#adds + 1] = offer.score
          adds[#adds + 1] = offer.payload
          taken[offer.n] = true
        end
      end
      if #adds > 0 then
        redis.call('ZADD', key, unpack(adds))
        redis.call('EXPIRE', key, k.expiry)
      end
    end
    return taken
  end
  return batch
end
`;

/**
 * Lua: send(key, payload, score, cutoff, capacity, expiry) → 1 stored, 0 full.
 * The four steps of channels_redis's send (drop expired, refuse when full, add,
 * refresh expiry), shared by every script that stores a message: a batch of one,
 * so that one piece of Lua says what a send is.
 */
export const LUA_SEND = `${LUA_SENDS}
local function send(key, payload, score, cutoff, capacity, expiry)
  local batch = sends(BY_SEND)
  local offer = batch.offer(key, payload, score, cutoff, capacity, expiry)
  return batch.store()[offer] and 1 or 0
end
`;

/**
 * Lua: capacities(args, base) → capacityOf(name), from CapacityTable.luaRules laid
 * out in `args` from index `base` (fallback, rule count, pattern/capacity pairs).
 */
export const LUA_CAPACITIES = `
local function capacities(args, base)
  local fallback, rules = tonumber(args[base]), tonumber(args[base + 1])
  return function(name)
    for i = 0, rules - 1 do
      if string.find(name, args[base + 2 + 2 * i]) then return tonumber(args[base + 3 + 2 * i]) end
    end
    return fallback
  end
end
`;

/**
 * Lua: groupSend(groupKey, groupCutoff, keyPrefix, score, cutoff, expiry, prefix,
 * entries, count, capacityOf, grouped) → members, skipped. A whole group send:
 * the members (expired ones dropped; `grouped`, when given, those read already
 * by liveMembers and grouped by membersByKey), grouped by channel key (one per
 * Thyme process, for reply channels), each key's copy made as the
 * codec makes it (random prefix, the map header counting one more entry, the
 * entries, then `__asgi_channel__` = that key's member names), stored with
 * expiry and capacity as `send` does, in one batch (sends()): refused one write
 * to one member's key, it stores to none and drops no expired member, so that
 * sending it again delivers it once to each. It computes the keys it writes, so
 * it is only for a single standalone server, and only unencrypted.
 */
export const LUA_GROUP_SEND = `
local function channelKeyOf(name)
  local bang = string.find(name, '!', 1, true)
  return bang and string.sub(name, 1, bang) or name
end
local function liveMembers(groupKey, groupCutoff)
  return redis.call('ZRANGE', groupKey, '(' .. groupCutoff, '+inf', 'BYSCORE')
end
local function membersByKey(members)
  local byKey, keys = {}, {}
  for _, name in ipairs(members) do
    local key = channelKeyOf(name)
    local names = byKey[key]
    if not names then
      names = {}
      byKey[key] = names
      keys[#keys + 1] = key
    end
    names[#names + 1] = name
  end
  return { count = #members, byKey = byKey, keys = keys }
end
local function groupSend(groupKey, groupCutoff, keyPrefix, score, cutoff, expiry, prefix, entries, count, capacityOf, grouped)
  -- The members read without the expired ones, and those dropped only once
  -- every channel key's writes are allowed (sends().store()): all or nothing.
  mayWrite(BY_GROUP_SEND, 'zremrangebyscore', groupKey, 0, groupCutoff)
  grouped = grouped or membersByKey(liveMembers(groupKey, groupCutoff))
  local byKey, keys = grouped.byKey, grouped.keys
  local n = tonumber(count) + 1
  local header
  if n < 16 then header = string.char(0x80 + n)
  else header = string.char(0xde, math.floor(n / 256), n % 256) end
  local head = prefix .. header .. entries
  local batch, offers = sends(BY_GROUP_SEND), {}
  for i, key in ipairs(keys) do
    local names = byKey[key]
    local payload = head .. cmsgpack.pack('__asgi_channel__', names)
    offers[i] = batch.offer(keyPrefix .. key, payload, score, cutoff, capacityOf(names[1]), expiry)
  end
  local taken = batch.store()
  redis.call('ZREMRANGEBYSCORE', groupKey, 0, groupCutoff)
  local skipped = 0
  for i, key in ipairs(keys) do
    if not taken[offers[i]] then skipped = skipped + #byKey[key] end
  end
  return grouped.count, skipped
end
`;

/**
 * send: KEYS[1] channel key. ARGV: payload, score, cutoff, capacity, expiry.
 * Returns 1 when stored, 0 when the channel is full.
 *
 * Batched (LuaScript.batched's layout, every call one key and five arguments),
 * the calls for one key share its expiry sweep, its count, one ZADD of all the
 * messages it takes and one EXPIRE: what several sends in a row would do, with
 * four commands per key instead of four per message. The messages a key takes
 * are the first ones until it is full, as they would be one by one.
 */
export const SEND = new LuaScript(
  'send',
  `${LUA_SEND}
return send(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
`,
  `${LUA_SENDS}
local calls = tonumber(ARGV[1])
local offers, batch = {}, sends(BY_SEND)
local a = 2 + calls * 2
for i = 1, calls do
  offers[i] = batch.offer(KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
  a = a + 5
end
local taken, out = batch.store(), {}
for i = 1, calls do out[i] = taken[offers[i]] and 1 or 0 end
return out
`,
);

/**
 * Group members: drop those not re-added within groupExpiry, return the rest.
 * KEYS[1] group key. ARGV[1] cutoff.
 */
export const GROUP_MEMBERS = new LuaScript(
  'groupMembers',
  `
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`,
);

/**
 * Group delivery to every channel key of one host in one round trip, with expiry
 * and capacity applied per key, all or nothing for lack of permission (sends()):
 * on one host, not across hosts (docs/layer.md).
 * KEYS: channel keys. ARGV[1] score, ARGV[2] cutoff, ARGV[3] expiry, then per key
 * i: ARGV[2 + 2i] payload, ARGV[3 + 2i] capacity.
 * Returns the 1-based indexes of the keys that were full.
 */
export const GROUP_DELIVER = new LuaScript(
  'groupDeliver',
  `${LUA_SENDS}
local batch, offers = sends(BY_GROUP_SEND), {}
for i = 1, #KEYS do
  offers[i] = batch.offer(KEYS[i], ARGV[2 + 2 * i], ARGV[1], ARGV[2], ARGV[3 + 2 * i], ARGV[3])
end
local taken, full = batch.store(), {}
for i = 1, #KEYS do
  if not taken[offers[i]] then full[#full + 1] = i end
end
return full
`,
);

/**
 * A whole group send in one round trip (LUA_GROUP_SEND), for one server without
 * encryption. KEYS[1] group key. ARGV: group cutoff, key prefix, score, cutoff,
 * expiry, random prefix, entries (MessagePack, no map header), entry count, then
 * the capacity table (CapacityTable.luaRules).
 * Returns {members, members skipped because their key was full}.
 */
export const GROUP_SEND = new LuaScript(
  'groupSend',
  `${LUA_SEND}${LUA_CAPACITIES}${LUA_GROUP_SEND}
local members, skipped = groupSend(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6], ARGV[7], ARGV[8], capacities(ARGV, 9))
return {members, skipped}
`,
);

/**
 * Puts back what a channels_redis receiver left in "<key>$inflight" when it was
 * interrupted between popping a message and handing it over (its own cleanup).
 * KEYS[1] channel key, KEYS[2] backup key.
 */
export const RESTORE_INFLIGHT = new LuaScript(
  'restoreInflight',
  `
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
  redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
return #backed_up / 2
`,
);

/**
 * Puts back what stayed in "<key>$inflight" since the caller's last look: a
 * live channels_redis receiver's hand-over takes milliseconds, so a message
 * still there seconds later was left by one that died. What is there only now
 * may be on its way to a live receiver, and putting it back would deliver it
 * twice. KEYS[1] channel key, KEYS[2] backup key; ARGV: the members seen at the
 * last look. Returns the members there now, for the next look.
 */
export const RESTORE_STRANDED = new LuaScript(
  'restoreStranded',
  `
for i = 1, #ARGV do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if score then
    redis.call('ZADD', KEYS[1], score, ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
return redis.call('ZRANGE', KEYS[2], 0, -1)
`,
);

/**
 * Whether the layer's user may now run commands Redis refused it for lack of
 * permission (RedisHost.probe), without running them: redis.acl_check_cmd
 * checks a command and the keys it names as Redis would (Redis 7). ARGV holds
 * each command as its argument count, its name and its arguments. Returns the
 * first refused command's name, or 1 when all are allowed: not an error reply,
 * which would be taken for this script's own refusal.
 */
export const MAY_CALL = new LuaScript(
  'mayCall',
  `
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  if not redis.acl_check_cmd(unpack(ARGV, i + 1, i + n)) then return ARGV[i + 1] end
  i = i + n + 1
end
return 1
`,
);
