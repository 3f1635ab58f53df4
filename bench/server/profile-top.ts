/**
 * Where a server's CPU went: the top functions (self time) and files of a
 * .cpuprofile written by `npm run bench:server -- --profile` (node --cpu-prof),
 * idle time left out.
 *
 *   node dist/bench/server/profile-top.js bench/results/profiles-…/CPU….cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CpuProfile, ProfileNode } from '../lib/cpu-profile.js';
import { formatNumber, table } from '../lib/report.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
if (positionals.length !== 1) {
  console.error('usage: node dist/bench/server/profile-top.js FILE.cpuprofile [--top 25]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile;
const top = Number(values.top);

/** A readable location: the package for node_modules, the path from the repo for ours. */
function where(url: string): string {
  if (!url) return '';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (modules) return `${modules[1]}/${modules[2]}`;
  const ours = /\/dist\/(.*)$/.exec(url);
  if (ours) return ours[1]!;
  return url.replace(/^file:\/\//, '');
}

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, number>();
for (const node of profile.nodes) {
  for (const child of node.children ?? []) parents.set(child, node.id);
}

/** A package (node_modules) or a directory of ours (src/layer/redis/…), for a script URL. */
function owner(url: string): string | undefined {
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (modules) return modules[1];
  const ours = /\/dist\/(.*)\/[^/]+$/.exec(url);
  return ours ? ours[1] : undefined;
}

/**
 * Who a sample's time belongs to: the innermost frame from a package or from our
 * code, so that Node internals and natives (writev, Buffer writes) are charged to
 * the code that called them.
 */
function chargedTo(node: ProfileNode): string {
  const { functionName } = node.callFrame;
  if (functionName === '(garbage collector)' || functionName === '(program)') return functionName;
  for (let current: ProfileNode | undefined = node; current;) {
    const found = owner(current.callFrame.url);
    if (found) return found;
    const parent = parents.get(current.id);
    current = parent === undefined ? undefined : byId.get(parent);
  }
  return '(node internals, no caller of ours)';
}
const owners = new Map<string, number>();
const functions = new Map<string, number>();
const files = new Map<string, number>();
let total = 0;
let idle = 0;
// Each sample's time is the delta to the next sample (Chrome DevTools' reading).
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]!);
  const micros = profile.timeDeltas[i + 1] ?? 0;
  if (!node) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === '(idle)') {
    idle += micros;
    continue;
  }
  total += micros;
  const file = where(url) || functionName;
  const name = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
  functions.set(name, (functions.get(name) ?? 0) + micros);
  files.set(file, (files.get(file) ?? 0) + micros);
  const charged = chargedTo(node);
  owners.set(charged, (owners.get(charged) ?? 0) + micros);
}

const rows = (map: Map<string, number>): string[][] =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => [
      name,
      formatNumber(micros / 1000),
      `${((micros / total) * 100).toFixed(1)} %`,
    ]);

console.log(
  `${positionals[0]}: ${formatNumber(total / 1000)} ms busy, ${formatNumber(idle / 1000)} ms idle`,
);
console.log(`\ntop functions by self time\n${table(['function', 'ms', 'share'], rows(functions))}`);
console.log(`\ntop files by self time\n${table(['file', 'ms', 'share'], rows(files))}`);
console.log(
  `\nby package or source directory (Node internals and natives charged to their caller)\n${table(['owner', 'ms', 'share'], rows(owners))}`,
);
