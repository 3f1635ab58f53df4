import { realpathSync } from 'node:fs';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

/** The package's executable, which every way of running the CLI ends up in. */
const BIN = join(PACKAGE_ROOT, 'bin', 'gredis.js');

/**
 * A gredis command line for a hint such as `run "… migrate" first`, written as
 * whoever started this process can paste it. `gredis` is on the PATH only once
 * the package is installed so: in a checkout, as the README runs it, it is
 * `node bin/gredis.js`, and in a project that depends on Gredis `npx gredis`.
 */
export function gredisCommand(subcommand: string): string {
  return `${gredisInvocation()} ${subcommand}`;
}

/** The gredis command line alone (see gredisCommand), for usage lines too. */
export function gredisInvocation(): string {
  const { env } = process;
  const script = process.argv[1];
  // Not started through the executable (a program calling main()): the plain name.
  if (script === undefined || !sameFile(script, BIN)) return 'gredis';
  // The link a package manager made, named after the package's bin.
  if (basename(script) === 'gredis') {
    if (sameFile(firstOnPath('gredis', env.PATH), script)) return 'gredis';
    // npx's cache, or a project's own node_modules/.bin: npx finds it from there.
    if (isNodeModulesBin(dirname(script))) return 'npx gredis';
  }
  const path = relative(typedIn(env, process.cwd()), script);
  const shown = path.startsWith('..') || isAbsolute(path) ? script : path;
  return `node ${shellWord(shown)}`;
}

/**
 * The directory its user typed the command in. npm runs a script in the
 * package's root, and says where it was typed in INIT_CWD; its children inherit
 * INIT_CWD wherever they run, so it is believed only in the script's directory.
 */
function typedIn(env: NodeJS.ProcessEnv, cwd: string): string {
  const script = env.npm_package_json;
  const inNpmScript = script !== undefined && resolve(dirname(script)) === resolve(cwd);
  return inNpmScript && env.INIT_CWD ? env.INIT_CWD : cwd;
}

/**
 * The first executable `name` on PATH, leaving out the node_modules/.bin
 * folders npm puts first for `npm run` and `npx`: its user's shell has none.
 */
function firstOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '' || isNodeModulesBin(dir)) continue;
    const candidate = join(dir, name);
    if (realpathOrUndefined(candidate) !== undefined) return candidate;
  }
  return undefined;
}

function isNodeModulesBin(dir: string): boolean {
  return dir.endsWith(`${sep}node_modules${sep}.bin`);
}

function sameFile(a: string | undefined, b: string): boolean {
  const real = a === undefined ? undefined : realpathOrUndefined(a);
  return real !== undefined && real === realpathOrUndefined(b);
}

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** `path` as one shell word: quoted only when it needs to be. */
function shellWord(path: string): string {
  if (/^[\w./@%+=:,-]+$/.test(path)) return path;
  return `'${path.replaceAll("'", `'\\''`)}'`;
}
