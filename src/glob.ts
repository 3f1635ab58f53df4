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
 * One UTF-8 character of any kind but the ASCII `excluded` (Lua set members):
 * a first byte that is no continuation byte, then its continuation bytes.
 * Lua patterns see bytes, and channel names past a "!" may hold any letter
 * (as Python reads "\w"): "." or "[^0-9]" took one byte of "é" and then
 * failed where fnmatch's "?" matches it.
 */
function luaOneCharBut(excluded: string): string {
  return `[^${excluded}${CONTINUATION}][${CONTINUATION}]*`;
}

/** UTF-8's continuation bytes, as a Lua set range (in a latin1 string: one char per byte). */
const CONTINUATION = '\x80-\xbf';

/**
 * The same glob as an anchored Lua pattern, for scripts that run inside Redis,
 * as bytes (a Lua pattern matches the bytes of UTF-8 names, and a JavaScript
 * string would be sent as UTF-8 again). A set lists its members one by one,
 * and only those in printable ASCII: a non-ASCII character only ever matches
 * a literal, "*", "?" or a negated set.
 */
export function globToLuaPattern(glob: string): Buffer {
  return Buffer.from(luaPatternBytes(glob), 'latin1');
}

/** The pattern as a latin1 string, one char per byte. */
function luaPatternBytes(glob: string): string {
  let source = '';
  for (const part of parseGlob(glob)) {
    if (part.kind === 'star') source += '.*';
    else if (part.kind === 'one') source += luaOneCharBut('');
    else if (part.kind === 'literal') source += luaLiteral(part.char);
    else {
      let members = '';
      for (let code = 0x21; code <= 0x7e; code++) {
        if (part.ranges.some(([low, high]) => low <= code && code <= high)) {
          members += luaSetMember(String.fromCharCode(code));
        }
      }
      if (members) source += part.negated ? luaOneCharBut(members) : `[${members}]`;
      else if (part.negated) source += luaOneCharBut('');
      // A set with no member matches nothing, and so does the glob: no channel
      // name is empty.
      else return '^$';
    }
  }
  return `^${source}$`;
}

function luaLiteral(char: string): string {
  if (char.charCodeAt(0) >= 0x80) return Buffer.from(char, 'utf8').toString('latin1');
  return char.replace(/[\^$()%.[\]*+\-?]/g, '%$&');
}

function luaSetMember(char: string): string {
  return /[a-zA-Z0-9]/.test(char) ? char : `%${char}`;
}
