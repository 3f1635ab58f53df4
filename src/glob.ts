/**
 * Shell-style globs as Python's `fnmatch` reads them (channels_redis matches its
 * capacity patterns with `fnmatch.translate`): "*" any run, "?" one character,
 * "[seq]" one character of the set, "[!seq]" one not in it, "a-z" a range inside
 * a set. A "[" with no closing "]" is itself; a "]" first in a set is a member.
 */
type GlobPart =
  | { kind: 'star' }
  | { kind: 'one' }
  | { kind: 'literal'; char: string }
  | { kind: 'set'; negated: boolean; ranges: [low: number, high: number][] };

function parseGlob(glob: string): GlobPart[] {
  const chars = [...glob];
  const parts: GlobPart[] = [];
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char === '*') parts.push({ kind: 'star' });
    else if (char === '?') parts.push({ kind: 'one' });
    else if (char === '[') {
      let end = i + 1;
      if (chars[end] === '!') end++;
      if (chars[end] === ']') end++;
      while (end < chars.length && chars[end] !== ']') end++;
      if (end >= chars.length) {
        parts.push({ kind: 'literal', char });
        continue;
      }
      const negated = chars[i + 1] === '!';
      const members = chars.slice(negated ? i + 2 : i + 1, end);
      const ranges: [number, number][] = [];
      for (let m = 0; m < members.length; m++) {
        const low = members[m]!.codePointAt(0)!;
        if (members[m + 1] === '-' && m + 2 < members.length) {
          const high = members[m + 2]!.codePointAt(0)!;
          // fnmatch drops a reversed range ("z-a"), as if it were not there.
          if (low <= high) ranges.push([low, high]);
          m += 2;
        } else ranges.push([low, low]);
      }
      parts.push({ kind: 'set', negated, ranges });
      i = end;
    } else parts.push({ kind: 'literal', char });
  }
  return parts;
}

/** The glob as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const part of parseGlob(glob)) {
    if (part.kind === 'star') source += '.*';
    else if (part.kind === 'one') source += '.';
    else if (part.kind === 'literal') source += part.char.replace(/[\\^$.|?*+()[\]{}/]/g, '\\$&');
    else if (part.ranges.length === 0) source += part.negated ? '.' : '(?!)';
    else {
      const members = part.ranges.map(([low, high]) =>
        low === high ? codePoint(low) : `${codePoint(low)}-${codePoint(high)}`,
      );
      source += `[${part.negated ? '^' : ''}${members.join('')}]`;
    }
  }
  return new RegExp(`^${source}$`, 'su');
}

function codePoint(code: number): string {
  return `\\u{${code.toString(16)}}`;
}

/**
 * The same glob as an anchored Lua pattern, for scripts that run inside Redis.
 * Lua patterns see bytes, so a set lists its members one by one, and only those
 * in printable ASCII: every character a channel name may hold.
 */
export function globToLuaPattern(glob: string): string {
  let source = '';
  for (const part of parseGlob(glob)) {
    if (part.kind === 'star') source += '.*';
    else if (part.kind === 'one') source += '.';
    else if (part.kind === 'literal') source += part.char.replace(/[\^$()%.[\]*+\-?]/g, '%$&');
    else {
      let members = '';
      for (let code = 0x21; code <= 0x7e; code++) {
        if (part.ranges.some(([low, high]) => low <= code && code <= high)) {
          members += luaSetMember(String.fromCharCode(code));
        }
      }
      if (members) source += `[${part.negated ? '^' : ''}${members}]`;
      else if (part.negated) source += '.';
      // A set with no member matches nothing, and so does the glob: no channel
      // name is empty.
      else return '^$';
    }
  }
  return `^${source}$`;
}

function luaSetMember(char: string): string {
  return /[a-zA-Z0-9]/.test(char) ? char : `%${char}`;
}
