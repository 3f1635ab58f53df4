/**
 * SQLite's REGEXP operator, which SQLite leaves to the application: `X REGEXP Y`
 * calls the function regexp(Y, X). Django's SQLite backend registers it with
 * Python's re.search (django/db/backends/sqlite3/base.py's _sqlite_regexp).
 * Here it is RE2 (re2js), not JavaScript's RegExp: the function runs in the
 * worker's thread, where a backtracking engine given a staff user's `(a+)+$`
 * would hold every page and socket of the process, and RE2 runs in time linear
 * in the text. Its syntax is also nearer Python's (`(?P<name>…)`, inline
 * flags); docs/security.md says where they differ.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { RE2JS } from 're2js';

/**
 * A pattern SQLite's REGEXP cannot compile: the statement fails, as Django's
 * does on SQLite (re.error out of its function), so the page answers 500 as
 * Django's. PostgreSQL refuses its own bad patterns with SQLSTATE 2201B.
 */
export class InvalidRegularExpression extends Error {
  readonly code = 'GREDIS_INVALID_REGULAR_EXPRESSION' as const;
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`invalid regular expression ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'InvalidRegularExpression';
  }
}

/**
 * Python's global flags, which a pattern may begin with (`(?i)…`, how Django
 * spells `iregex` on SQLite), as RE2's: `u` (Unicode text) is what both do
 * already, and `a` (ASCII \w, \d, \b) is RE2's own meaning of those; `L` Python
 * refuses for text; `x` (verbose) RE2 has not.
 */
const PYTHON_FLAGS: Readonly<Record<string, number | undefined>> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  u: 0,
  a: 0,
};

const LEADING_FLAGS = /^\(\?([a-zA-Z]+)\)/;

/** `pattern` compiled, its leading Python flags read; throws InvalidRegularExpression. */
function compilePythonPattern(pattern: string): RE2JS {
  let flags = 0;
  let source = pattern;
  for (let match = LEADING_FLAGS.exec(source); match; match = LEADING_FLAGS.exec(source)) {
    for (const flag of match[1]!) {
      const translated = PYTHON_FLAGS[flag];
      if (translated === undefined)
        throw new InvalidRegularExpression(pattern, `the flag (?${flag}) is not supported`);
      flags |= translated;
    }
    source = source.slice(match[0].length);
  }
  try {
    return RE2JS.compile(source, flags);
  } catch (error) {
    throw new InvalidRegularExpression(pattern, (error as Error).message);
  }
}

/**
 * Compiled patterns, as Python's re keeps its own: a list's query tests one
 * pattern on every row. Bounded, the oldest dropped first.
 */
const compiled = new Map<string, RE2JS>();
const MAX_COMPILED = 64;

function cachedPattern(pattern: string): RE2JS {
  let compiledPattern = compiled.get(pattern);
  if (compiledPattern === undefined) {
    compiledPattern = compilePythonPattern(pattern);
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(pattern, compiledPattern);
  }
  return compiledPattern;
}

/**
 * Registers regexp(pattern, value) on a new connection: 1 where re.search
 * would find the pattern in the value as text (a number's digits), 0 where
 * not, NULL for NULL, as SQL's operators (Django 3.2's would search "None").
 * Deterministic, as Django's: the same arguments always give the same answer.
 */
export function registerRegexp(connection: BetterSqlite3.Database): void {
  connection.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) => {
    if (pattern === null || value === null) return null;
    return cachedPattern(String(pattern)).matcher(String(value)).find() ? 1 : 0;
  });
}
