import { isAbsolute, resolve } from 'node:path';
import { redactSecrets } from '../redact.js';
import { whyNotUrl } from '../url-syntax.js';
import { InvalidDatabaseUrl } from './errors.js';

/** Where a database URL points, parsed once and before any I/O. */
export type DatabaseTarget =
  | { kind: 'sqlite'; filename: string; memory: boolean }
  | {
      kind: 'postgres';
      connectionString: string;
      searchPath: string[] | undefined;
      /** The URL's `query_timeout=`, in ms (see openDatabase). */
      queryTimeoutMs: number | undefined;
    };

/** A schema name we are willing to hand to knex, which splices searchPath into SQL text. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/**
 * Parses the URL forms Gredis accepts:
 * - `sqlite://./relative.sqlite3` (relative to the working directory),
 *   `sqlite:///absolute/path.sqlite3`, `sqlite://:memory:`; the path percent-decoded,
 *   no query;
 * - `postgres://…` or `postgresql://…`, handed to `pg` as a connection string. The extra
 *   query parameter `search_path=a,b` sets the schema search path of every connection
 *   (how tests isolate themselves in a schema); pg's own `options=-c search_path=…` works too.
 *   `query_timeout=` (ms, 0 for none) is taken out too: it sets the server's
 *   statement timeout as well as pg's own (see openDatabase).
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const text = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'sqlite') return parseSqlite(text, url);
  if (scheme === 'postgres' || scheme === 'postgresql') return parsePostgres(text, url);
  throw new InvalidDatabaseUrl(
    redactSecrets(url),
    scheme ? `unsupported scheme "${scheme}:"` : 'no scheme',
  );
}

function parseSqlite(text: string, original: string): DatabaseTarget {
  if (!text.startsWith('sqlite://'))
    throw new InvalidDatabaseUrl(original, 'SQLite URLs start with "sqlite://"');
  const raw = text.slice('sqlite://'.length);
  // A query would otherwise end up in the file name ("x.sqlite3?mode=ro"), as a
  // fragment would: Gredis takes no SQLite options from the URL.
  if (/[?#]/.test(raw))
    throw new InvalidDatabaseUrl(
      original,
      'SQLite URLs take no query or fragment (write a "?" or "#" in a file name as %3F or %23)',
    );
  // Percent-encoded, as in any URL: "my%20data" is the directory "my data".
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new InvalidDatabaseUrl(original, 'malformed percent-encoding in the file name');
  }
  if (path === ':memory:') return { kind: 'sqlite', filename: ':memory:', memory: true };
  if (path === '' || path === '/' || path.endsWith('/'))
    throw new InvalidDatabaseUrl(original, 'no SQLite file name');
  if (path.includes('\0')) throw new InvalidDatabaseUrl(original, 'NUL in the file name');
  // "sqlite:///abs" leaves "/abs"; anything else is relative to where the command runs.
  const filename = isAbsolute(path) ? path : resolve(process.cwd(), path);
  return { kind: 'sqlite', filename, memory: false };
}

function parsePostgres(text: string, original: string): DatabaseTarget {
  try {
    new URL(text);
  } catch {
    throw new InvalidDatabaseUrl(redactSecrets(original), whyNotUrl(text));
  }
  const queryAt = text.indexOf('?');
  if (queryAt === -1)
    return {
      kind: 'postgres',
      connectionString: text,
      searchPath: undefined,
      queryTimeoutMs: undefined,
    };
  const params = new URLSearchParams(text.slice(queryAt + 1));
  const searchPathParam = params.get('search_path');
  params.delete('search_path');
  let searchPath: string[] | undefined;
  if (searchPathParam !== null) {
    searchPath = searchPathParam.split(',').map((name) => name.trim());
    for (const name of searchPath) {
      if (!SCHEMA_NAME.test(name))
        throw new InvalidDatabaseUrl(
          redactSecrets(original),
          `search_path entry ${JSON.stringify(name)} is not a plain schema name`,
        );
    }
  }
  const queryTimeoutParam = params.get('query_timeout');
  params.delete('query_timeout');
  let queryTimeoutMs: number | undefined;
  if (queryTimeoutParam !== null) {
    if (!/^\d{1,9}$/.test(queryTimeoutParam))
      throw new InvalidDatabaseUrl(
        redactSecrets(original),
        `query_timeout ${JSON.stringify(queryTimeoutParam)} is not a number of milliseconds`,
      );
    queryTimeoutMs = Number(queryTimeoutParam);
  }
  // Rebuilt by hand: URL serialisation would re-encode the user's password and host.
  const rest = params.toString();
  const connectionString = text.slice(0, queryAt) + (rest ? `?${rest}` : '');
  return { kind: 'postgres', connectionString, searchPath, queryTimeoutMs };
}

/** The SQLite file a URL names, or undefined for PostgreSQL and in-memory databases. */
export function sqliteFileOf(url: string): string | undefined {
  const target = parseDatabaseUrl(url);
  return target.kind === 'sqlite' && !target.memory ? target.filename : undefined;
}
