/** A shell-style glob ("*" any run, "?" one character) as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The same glob as an anchored Lua pattern, for scripts that run inside Redis. */
export function globToLuaPattern(glob: string): string {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[\^$()%.[\]*+\-?]/g, '%$&');
  }
  return `^${source}$`;
}
