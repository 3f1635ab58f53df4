/** docs/errors.md lists exactly the error codes the code can throw, each once. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';

const test = suite();

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

test('every code in the source is documented, and every documented code exists', () => {
  const inCode = new Set<string>();
  for (const file of sources(join(ROOT, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(
      /readonly code = '(GREDIS_[A-Z_]+)'/g,
    )) {
      assert.not.ok(inCode.has(match[1]!), `${match[1]} is used by two error classes`);
      inCode.add(match[1]!);
    }
  }
  const docs = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const documented = new Set([...docs.matchAll(/^\| `(GREDIS_[A-Z_]+)` +\|/gm)].map((m) => m[1]!));
  assert.equal(
    [...inCode].filter((code) => !documented.has(code)).sort(),
    [],
    'undocumented codes',
  );
  assert.equal(
    [...documented].filter((code) => !inCode.has(code)).sort(),
    [],
    'documented codes that do not exist',
  );
  assert.ok(inCode.size >= 10);
});

test('every CLOSE_* close code in the source is in the table of close codes', () => {
  const docs = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const table = docs.slice(docs.indexOf('## WebSocket close codes'));
  const documented = new Map(
    [...table.matchAll(/^\| (\d{4}) +\|[^|]*\|([^|]*)\|/gm)].map((m) => [m[1]!, m[2]!]),
  );
  let constants = 0;
  for (const file of sources(join(ROOT, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(
      /export const (CLOSE_[A-Z_]+) = (\d{4});/g,
    )) {
      constants++;
      const when = documented.get(match[2]!);
      assert.ok(when?.includes(`\`${match[1]!}\``), `${match[1]} (${match[2]}) in docs/errors.md`);
    }
  }
  assert.ok(constants >= 3, 'the constants were found');
});

test('every layer error class carries its code and a TypeError where it is bad input', async () => {
  const errors = await import('../src/layer/errors.js');
  const samples = [
    new errors.ChannelFull('c', 1),
    new errors.InvalidChannelName('x y', 'bad'),
    new errors.InvalidGroupName('x y', 'bad'),
    new errors.InvalidMessage('message.f', 'bad'),
    new errors.ForeignChannel('a.b!c', 'p'),
    new errors.LayerClosed(),
    new errors.ReceiveAborted('c'),
    new errors.LayerUnavailable('redis://x'),
    new errors.InvalidLayerUrl('x', 'bad'),
    new errors.MalformedPayload('bad'),
    new errors.LaneTurnLost('specific.a!b', 3),
  ];
  for (const error of samples) {
    assert.match(error.code, /^GREDIS_/);
    assert.ok(error.message.length > 10, error.name);
  }
  for (const error of samples.slice(1, 4)) assert.instance(error, TypeError);
});

test.run();
