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
 * Lua: sends() → a batch of sends that share each key's work: offer(key, payload,
 * score, cutoff, capacity, expiry) → true when the key takes the message (the
 * first ones, until it is full, as one by one), and store() adds what the keys
 * took, one ZADD and one EXPIRE per key. One expiry sweep and one count per key.
 *
 * store() stores nothing when the ACL user may not ZADD or EXPIRE one of its
 * keys: it raises a refusal worded as Redis's of a command inside a script
 * (refusals.ts), naming the command, so that the send fails as refused
 * (LayerUnavailable), truthfully: no message of the batch is in, and sending
 * them again will not deliver any twice (the sweep before drops only expired
 * messages). channels_redis, whose EXPIRE follows its ZADD, fails after storing
 * a message that then never expires. The check, two redis.acl_check_cmd per key
 * and not per message, costs a fraction of one of the four commands a send runs.
 */
export const LUA_SENDS = `
local function sends()
  local byKey, keys, batch = {}, {}, {}
  function batch.offer(key, payload, score, cutoff, capacity, expiry)
    local k = byKey[key]
    if not k then
      redis.call('ZREMRANGEBYSCORE', key, 0, cutoff)
      k = { count = redis.call('ZCARD', key), adds = {} }
      byKey[key] = k
      keys[#keys + 1] = key
    end
    if k.count >= tonumber(capacity) then return false end
    k.count = k.count + 1
    k.adds[#k.adds + 1] = score
    k.adds[#k.adds + 1] = payload
    k.expiry = expiry
    return true
  end
  function batch.store()
    -- Every key's ZADD and EXPIRE asked about ahead of the first ZADD: Redis
    -- checks a script's commands only as they run, and one refused after a
    -- ZADD left that message stored (for good, if its EXPIRE was the one),
    -- while its sender was told the send failed. ZADD too, since it may be
    -- refused for one key and not another (an ACL selector, Redis 7), and an
    -- earlier key's messages would be stored by then.
    for _, key in ipairs(keys) do
      local k = byKey[key]
      if #k.adds > 0 then
        -- ZADD's member a placeholder: ACL checks keys, and a payload would be copied.
        local refused = not redis.acl_check_cmd('zadd', key, '0', '') and 'zadd'
          or not redis.acl_check_cmd('expire', key, k.expiry) and 'expire'
        if refused then
          error({ err = "ERR The user executing the script can't run the '" .. refused .. "' command (asked by a send before it stored anything)" })
        end
      end
    end
    for _, key in ipairs(keys) do
      local k = byKey[key]
      if #k.adds > 0 then
        redis.call('ZADD', key, unpack(k.adds))
        redis.call('EXPIRE', key, k.expiry)
      end
    end
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
  local batch = sends()
  if not batch.offer(key, payload, score, cutoff, capacity, expiry) then return 0 end
  batch.store()
  return 1
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
 * entries, count, capacityOf) → members, skipped. A whole group send: the members
 * (expired ones dropped), grouped by channel key, each key's copy made as the
 * codec makes it (random prefix, the map header counting one more entry, the
 * entries, then `__asgi_channel__` = that key's member names), stored with
 * expiry and capacity as `send` does. It computes the keys it writes, so it is
 * only for a single standalone server, and only unencrypted.
 */
export const LUA_GROUP_SEND = `
local function groupSend(groupKey, groupCutoff, keyPrefix, score, cutoff, expiry, prefix, entries, count, capacityOf)
  redis.call('ZREMRANGEBYSCORE', groupKey, 0, groupCutoff)
  local members = redis.call('ZRANGE', groupKey, 0, -1)
  local byKey, keys = {}, {}
  for _, name in ipairs(members) do
    local bang = string.find(name, '!', 1, true)
    local key = bang and string.sub(name, 1, bang) or name
    local names = byKey[key]
    if not names then
      names = {}
      byKey[key] = names
      keys[#keys + 1] = key
    end
    names[#names + 1] = name
  end
  local n = tonumber(count) + 1
  local header
  if n < 16 then header = string.char(0x80 + n)
  else header = string.char(0xde, math.floor(n / 256), n % 256) end
  local head = prefix .. header .. entries
  local skipped = 0
  for _, key in ipairs(keys) do
    local names = byKey[key]
    local payload = head .. cmsgpack.pack('__asgi_channel__', names)
    if send(keyPrefix .. key, payload, score, cutoff, capacityOf(names[1]), expiry) == 0 then
      skipped = skipped + #names
    end
  end
  return #members, skipped
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
local out, batch = {}, sends()
local a = 2 + calls * 2
for i = 1, calls do
  out[i] = batch.offer(KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]) and 1 or 0
  a = a + 5
end
batch.store()
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
 * and capacity applied per key.
 * KEYS: channel keys. ARGV[1] score, ARGV[2] cutoff, ARGV[3] expiry, then per key
 * i: ARGV[2 + 2i] payload, ARGV[3 + 2i] capacity.
 * Returns the 1-based indexes of the keys that were full.
 */
export const GROUP_DELIVER = new LuaScript(
  'groupDeliver',
  `${LUA_SEND}
local full = {}
for i = 1, #KEYS do
  if send(KEYS[i], ARGV[2 + 2 * i], ARGV[1], ARGV[2], ARGV[3 + 2 * i], ARGV[3]) == 0 then
    full[#full + 1] = i
  end
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
