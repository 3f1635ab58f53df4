import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Workload, WorkloadResult } from './workloads.js';

/** The only interpreter with Debian's python3-channels-redis; `python3` on PATH lacks it. */
export const PYTHON = '/usr/bin/python3';

/** bench/python/: its .py files are not compiled, so reach it in the source tree from dist/bench/lib/. */
export const PYTHON_SOURCES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'bench',
  'python',
);

const SCRIPT = join(PYTHON_SOURCES, 'layer_bench.py');

export interface PythonRuntime {
  python: string;
  channels_redis: string;
  redis_py: string;
  hiredis: boolean;
  msgpack: string;
}

export interface PythonOutput {
  runtime: PythonRuntime;
  result: WorkloadResult;
}

/**
 * Runs `PYTHON args` in bench/python/ (so its packages import) with `env` added,
 * and returns the JSON object it printed last on stdout.
 */
export function runPythonJson<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, {
      cwd: PYTHON_SOURCES,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const command = `${PYTHON} ${args[0] ?? ''}`;
      if (code !== 0) {
        reject(new Error(`${command} exited with ${code}:\n${stderr.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
      } catch (error) {
        reject(
          new Error(`unreadable output from ${command}: ${stdout}\n${stderr}`, { cause: error }),
        );
      }
    });
  });
}

/**
 * Runs one workload through channels_redis in a fresh Python process (one per
 * workload, so Gredis and channels_redis alternate and share the machine's
 * drifting noise), and returns what it printed.
 */
export function runPython(url: string, prefix: string, workload: Workload): Promise<PythonOutput> {
  return runPythonJson([SCRIPT, JSON.stringify({ url, prefix, workload })]);
}
