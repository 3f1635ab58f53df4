import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Workload, WorkloadResult } from './workloads.js';

/** The only interpreter with Debian's python3-channels-redis; `python3` on PATH lacks it. */
export const PYTHON = '/usr/bin/python3';

/** The .py file is not compiled: reach it in the source tree from dist/bench/lib/. */
const SCRIPT = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'bench',
  'python',
  'layer_bench.py',
);

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
 * Runs one workload through channels_redis in a fresh Python process (one per
 * workload, so Gredis and channels_redis alternate and share the machine's
 * drifting noise), and returns what it printed.
 */
export function runPython(url: string, prefix: string, workload: Workload): Promise<PythonOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, JSON.stringify({ url, prefix, workload })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${PYTHON} ${SCRIPT} exited with ${code}:\n${stderr.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as PythonOutput);
      } catch (error) {
        reject(
          new Error(`unreadable output from ${SCRIPT}: ${stdout}\n${stderr}`, { cause: error }),
        );
      }
    });
  });
}
