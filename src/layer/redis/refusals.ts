import { LayerUnavailable } from '../errors.js';

/**
 * Redis's refusal of `error`'s command for lack of permission, if it is one: an ACL user
 * without the command or without access to its keys (NOPERM), or a connection
 * that could not authenticate (NOAUTH, WRONGPASS; ioredis reports those of its
 * ready check wrapped: "Ready check failed: NOAUTH …"). Unlike an outage, only
 * an operator changes that: until then every such call fails alike.
 */
export function permissionRefusal(error: unknown): Error | undefined {
  const refusal = error instanceof LayerUnavailable ? error.cause : error;
  if (
    refusal instanceof Error &&
    (/\b(NOPERM|NOAUTH|WRONGPASS)\b/.test(refusal.message) || insideScript(refusal))
  )
    return refusal;
  return undefined;
}

/**
 * Whether `refusal` is of a command a script runs, rather than of the script
 * call: Redis 7 checks only EVALSHA and the declared KEYS before running a
 * script (NOPERM), and each command in it as it runs, refusing it with "ERR
 * The user executing the script can't run this command or subcommand" (or
 * "can't access at least one of the keys mentioned in the command arguments"),
 * naming neither the command nor the key (ACL LOG does).
 */
function insideScript(refusal: Error): boolean {
  return /\bThe user executing the script can't\b/.test(refusal.message);
}

/**
 * What a permission refusal says the layer's Redis user lacks, in ACL SETUSER's
 * terms where Redis names it: `+bzmpop` for "no permissions to run the
 * 'bzmpop' command"; for a key, the key the layer asked for (Redis names none),
 * or of several (a script call's KEYS), each a suspect; `+zadd on the key
 * <key>` for a write a script asked about (mayWrite).
 * A command refused inside a script names neither, and the key may be one the
 * script computed: the operator is sent to ACL LOG, which names both.
 */
export function lacking(refusal: Error, keys: string | readonly string[]): string {
  const named = /run the '([^']+)' command(?: on the key '([^']*)')?/.exec(refusal.message);
  // Asked by the layer's own script (scripts.ts, mayWrite), which cannot tell
  // the command refused from the key: it names both.
  if (named?.[2] !== undefined) return `+${named[1]} on the key ${named[2]}`;
  if (named) return `+${named[1]}`;
  if (/NOPERM/.test(refusal.message)) return `access to ${keysNamed(keys)}`;
  if (/script can't run this command/.test(refusal.message))
    return 'a command its scripts run (ACL LOG names it)';
  if (insideScript(refusal)) return 'access to a key its scripts use (ACL LOG names it)';
  return 'a password the server accepts';
}

/** How many keys of a refused call `lacking` names at most; it counts the rest. */
const KEYS_SHOWN = 3;

/**
 * "the key <key>", or, of a call naming several (a group delivery's channel
 * keys), "one of the keys <k1>, <k2>": Redis does not say which it refused,
 * and naming the first alone named one the user may well have access to.
 */
function keysNamed(keys: string | readonly string[]): string {
  const distinct = typeof keys === 'string' ? [keys] : [...new Set(keys)];
  if (distinct.length <= 1) return `the key ${distinct[0] ?? ''}`;
  const more = distinct.length - KEYS_SHOWN;
  const shown = distinct.slice(0, KEYS_SHOWN).join(', ');
  return `one of the keys ${shown}${more > 0 ? ` (and ${more} more)` : ''}`;
}

/**
 * `refusal`'s message without where in a script Redis raised it (" script:
 * <sha>, on @user_script:<line>.") nor the key a script's own check named (" on
 * the key '…'", scripts.ts): the same refusal of a script's batched form
 * (LuaScript.batched), of another line, or of another channel's key (a user
 * refused EXPIRE is refused it on every channel) is not news.
 */
function withoutPlace(refusal: Error): string {
  return refusal.message
    .replace(/ script: [0-9a-f]{40}, on @user_script:\d+\.$/, '')
    .replace(/ on the key '[^']*'/, '');
}

/** How many distinct refusals `reasons` names at most; it counts the rest. */
const REASONS_SHOWN = 8;

/**
 * The layer work one server refuses for lack of permission, by who was refused
 * (a key reader, for its last read; each script, for its last refused call;
 * each form of plain command or MULTI, for its last refused call).
 * A host with any is not ready (LayerHealth `refused`): a process that cannot
 * read its replies, or whose sends all fail, must not be sent traffic. Each
 * entry ends when its refused work is allowed again, so readiness comes back
 * by itself once the user is granted all it lacked, and not before: one
 * script's refusal does not take the place of another's. Bounded as the code
 * is: the scripts and command forms are those it has, and the readers those
 * reading now (each let go ends its entry).
 */
export class Refusals<Who> {
  private readonly byWho = new Map<Who, { error: Error; work: readonly unknown[] }>();

  /**
   * Redis's reasons for the refusals now, each distinct one once, in the order
   * they came, for the layer's health to name them all; at most REASONS_SHOWN,
   * then how many more. Undefined when nothing is refused.
   */
  get reasons(): string | undefined {
    const distinct = [...new Set([...this.byWho.values()].map(({ error }) => error.message))];
    if (distinct.length === 0) return undefined;
    const shown = distinct.slice(0, REASONS_SHOWN).join('; ');
    const more = distinct.length - REASONS_SHOWN;
    return more > 0 ? `${shown}; and ${more} more` : shown;
  }

  /**
   * What `who` was refused (a script call's keys, the commands of a call), to
   * ask about again; undefined when it is not refused.
   */
  workOf(who: Who): readonly unknown[] | undefined {
    return this.byWho.get(who)?.work;
  }

  /** Who is refused now, with their refused work (see workOf). */
  *entries(): IterableIterator<[Who, readonly unknown[]]> {
    for (const [who, { work }] of this.byWho) yield [who, work];
  }

  /**
   * Records that `who`'s `work` was refused. True when that is news (it was
   * allowed, or refused another way), to be said once rather than at every
   * retry.
   */
  refused(who: Who, error: Error, work: readonly unknown[] = []): boolean {
    const before = this.byWho.get(who);
    this.byWho.set(who, { error, work });
    return !before || withoutPlace(before.error) !== withoutPlace(error);
  }

  /** `who` was allowed again (or is gone). True when it had been refused. */
  allowed(who: Who): boolean {
    return this.byWho.delete(who);
  }
}
