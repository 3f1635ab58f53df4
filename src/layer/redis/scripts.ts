import { createHash } from 'node:crypto';

/** A Lua script run by EVALSHA, falling back to EVAL once when the server lacks it. */
export class LuaScript {
  readonly sha: string;
  private batchedScript: LuaScript | undefined;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
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
    );
    return this.batchedScript;
  }
}

/**
 * send: the four steps of channels_redis's send (drop expired, refuse when full,
 * add, refresh expiry) in one atomic round trip.
 * KEYS[1] channel key. ARGV: payload, score, cutoff, capacity, expiry.
 * Returns 1 when stored, 0 when the channel is full.
 */
export const SEND = new LuaScript(
  'send',
  `
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
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
  `
local full = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[2])
  if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[3 + 2 * i]) then
    redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2 + 2 * i])
    redis.call('EXPIRE', KEYS[i], ARGV[3])
  else
    full[#full + 1] = i
  end
end
return full
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
