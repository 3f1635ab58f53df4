import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET_KEY } from './deployment.js';
import { GREDIS_BIN } from './processes.js';
import { within } from './wait.js';

/** Debian's interpreter, which has python3-django (not whatever `python3` is on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

const PYTHON_DIR = fileURLToPath(new URL('../../../test/python/', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `gredis ARGS` to completion with stdin piped from `input` (closed after
 * writing). One still running after `timeoutMs` (a server that started when it
 * should have refused to) is killed, and its `code` is null.
 */
export function runGredis(
  args: string[],
  options: {
    env?: Record<string, string | undefined>;
    input?: string;
    cwd?: string;
    timeoutMs?: number;
  } = {},
): Promise<CliResult> {
  return collect(
    spawn(process.execPath, [GREDIS_BIN, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    }),
    options.input,
  );
}

/**
 * Runs a command line as a user types it at a shell (`node bin/gredis.js …`,
 * `gredis …`, a hint pasted from an error), with the environment runGredis gives.
 */
export function runShell(
  line: string,
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return collect(
    spawn('/bin/sh', ['-c', line], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    }),
    undefined,
  );
}

/** A child's exit status and output, its stdin fed `input` and closed. */
function collect(child: ChildProcess, input: string | undefined): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input ?? '');
  });
}

/** A command left running, to be interrupted (Ctrl-C is SIGINT to it): see startGredis. */
export interface RunningGredis {
  child: ChildProcess;
  /** Its output so far. */
  stdout(): string;
  stderr(): string;
  /** Its exit status, or the signal that ended it. */
  exited: Promise<GredisExit>;
  /**
   * Ctrl-C (SIGINT), or `signal`, then its exit status, failing the test if it
   * has not ended within `ms`: "at once" is the point of every interrupt test.
   */
  interrupt(ms: number, what: string, signal?: NodeJS.Signals): Promise<GredisExit>;
}

export interface GredisExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Starts `gredis ARGS` with the tests' SECRET_KEY and its stdin left open (write
 * to child.stdin). The caller kills it when done (SIGKILL is harmless once it exited).
 */
export function startGredis(
  args: string[],
  options: { env?: Record<string, string | undefined> } = {},
): RunningGredis {
  const child = spawn(process.execPath, [GREDIS_BIN, ...args], {
    env: cleanEnv(withSecretKey(options).env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<GredisExit>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    interrupt: (ms, what, signal = 'SIGINT') => {
      child.kill(signal);
      return within(exited, ms, what);
    },
  };
}

/** Options with the tests' SECRET_KEY, which commands need on PostgreSQL as the server does. */
function withSecretKey<T extends { env?: Record<string, string | undefined> }>(options: T): T {
  return { ...options, env: { SECRET_KEY: TEST_SECRET_KEY, ...options.env } };
}

/** runGredis for a command that needs SECRET_KEY (any that opens a PostgreSQL database's users). */
export function runGredisWithKey(
  args: string[],
  options: Parameters<typeof runGredis>[1] = {},
): Promise<CliResult> {
  return runGredis(args, withSecretKey(options));
}

export interface PtyStep {
  /** Wait until this appears in the terminal output (after the previous match)... */
  expect: string;
  /** ...then type this. */
  send: string;
}

export interface PtyResult {
  /** Everything the terminal showed (program output plus whatever the tty echoed). */
  output: string;
  status: number;
  timedOut: boolean;
  /** Per step: whether the terminal's ECHO flag was off when `send` was typed. */
  echoOff: boolean[];
}

/** Runs `gredis ARGS` in a pseudo-terminal (test/python/pty_drive.py), typing `steps`. */
export function runGredisInPty(
  args: string[],
  steps: PtyStep[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutS?: number } = {},
): Promise<PtyResult> {
  const spec = JSON.stringify({
    argv: [process.execPath, GREDIS_BIN, ...args],
    steps,
    cwd: options.cwd,
    timeout: options.timeoutS ?? 20,
  });
  return new Promise((resolve, reject) => {
    execFile(
      SYSTEM_PYTHON,
      [`${PYTHON_DIR}pty_drive.py`, spec],
      { env: cleanEnv(options.env), maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`pty_drive failed: ${error.message}\n${stderr}`));
        const result = JSON.parse(stdout) as {
          output: string;
          status: number;
          timed_out: boolean;
          echo_off_at: boolean[];
        };
        resolve({
          output: result.output,
          status: result.status,
          timedOut: result.timed_out,
          echoOff: result.echo_off_at,
        });
      },
    );
  });
}

/**
 * Runs a helper script from test/python with Debian's Python, JSON in and out.
 * One still running after `timeoutMs` is killed and fails the test that waited,
 * naming the script, rather than hang its file until the runner's timeout.
 */
export function runPython<T>(
  script: string,
  input: unknown,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      SYSTEM_PYTHON,
      [`${PYTHON_DIR}${script}`],
      { maxBuffer: 1 << 24, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error?.killed)
          return reject(new Error(`${script} did not finish within ${timeoutMs} ms\n${stderr}`));
        if (error) return reject(new Error(`${script} failed: ${error.message}\n${stderr}`));
        resolve(JSON.parse(stdout) as T);
      },
    );
    // A script killed before reading its input makes the write fail (EPIPE); the callback says why.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(input));
  });
}

/**
 * The test process's environment minus settings that would leak into the child
 * (a developer's DATABASE_URL or SECRET_KEY), plus `extra`; undefined deletes.
 */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GREDIS_LOG_LEVEL: 'silent' };
  for (const name of ['DATABASE_URL', 'SECRET_KEY', 'GREDIS_SUPERUSER_PASSWORD']) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** runGredisInPty with the tests' SECRET_KEY (see runGredisWithKey). */
export function runGredisInPtyWithKey(
  args: string[],
  steps: PtyStep[],
  options: Parameters<typeof runGredisInPty>[2] = {},
): Promise<PtyResult> {
  return runGredisInPty(args, steps, withSecretKey(options));
}
