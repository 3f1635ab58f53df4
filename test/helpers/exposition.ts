import * as assert from 'uvu/assert';

/** Series of a scraped page, keyed `name{a="x",b="y"}` (labels sorted, values unescaped). */
export type Scrape = Map<string, number>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** The types Gredis writes: a histogram or summary would need its suffixes checked here. */
const TYPES = new Set(['counter', 'gauge']);

/**
 * Parses a page in the Prometheus text format 0.0.4 strictly, failing the test
 * on anything a scraper could misread: each family has one HELP then one TYPE
 * line before its samples, and its samples together; names and label names are
 * valid, label values escaped (only \\, \" and \n), no series twice; counters
 * end in _total and are finite and not negative.
 */
export function parseExposition(text: string): Scrape {
  assert.ok(text.endsWith('\n'), 'the page ends with a newline');
  const series: Scrape = new Map();
  const types = new Map<string, string>();
  const done = new Set<string>();
  let family: string | undefined;
  let helped: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      assert.match(name, METRIC_NAME, `a valid metric name: ${line}`);
      if (kind === 'HELP') {
        assert.not.ok(done.has(name) || name === family, `one HELP for ${name}`);
        assert.not.match(rest, /\\[^\\n]|\\$/, `HELP escapes only \\\\ and \\n: ${line}`);
        if (family !== undefined) done.add(family);
        family = undefined;
        helped = name;
      } else {
        assert.is(helped, name, `TYPE ${name} comes right after its HELP`);
        assert.ok(TYPES.has(rest), `a known type: ${line}`);
        if (rest === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
        types.set(name, rest);
        family = name;
        helped = undefined;
      }
      continue;
    }
    assert.not.match(line, /^#/, `no other comment: ${line}`);
    assert.ok(family !== undefined, `a sample after its family's HELP and TYPE: ${line}`);
    const [name, labels, value] = parseSample(line);
    assert.is(name, family, `${line} belongs to the family`);
    if (types.get(family) === 'counter')
      assert.ok(Number.isFinite(value) && value >= 0, `counter ${line}`);
    const key = seriesKey(name, labels);
    assert.not.ok(series.has(key), `no series twice: ${key}`);
    series.set(key, value);
  }
  return series;
}

/** `name{labels} value`, labels unescaped; fails on anything else (timestamps are not written). */
function parseSample(line: string): [string, Map<string, string>, number] {
  const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  assert.ok(head, `a sample starts with a metric name: ${line}`);
  const name = head![1]!;
  let at = name.length;
  const labels = new Map<string, string>();
  if (line[at] === '{') {
    at++;
    while (line[at] !== '}') {
      const label = /^([^=]*)="/.exec(line.slice(at));
      assert.ok(label, `a label name="value": ${line}`);
      const labelName = label![1]!;
      assert.match(labelName, LABEL_NAME, `a valid label name: ${line}`);
      assert.not.ok(labels.has(labelName), `no label twice: ${line}`);
      at += label![0].length;
      let value = '';
      for (;;) {
        const c = line[at++];
        assert.ok(c !== undefined, `a label value is closed: ${line}`);
        if (c === '"') break;
        if (c === '\\') {
          const escaped = line[at++];
          assert.ok(
            escaped === '\\' || escaped === '"' || escaped === 'n',
            `only \\\\, \\" and \\n escapes: ${line}`,
          );
          value += escaped === 'n' ? '\n' : escaped;
        } else value += c;
      }
      labels.set(labelName, value);
      if (line[at] === ',') at++;
      else assert.is(line[at], '}', `labels separated by commas: ${line}`);
    }
    at++;
  }
  const rest = /^ (\S+)$/.exec(line.slice(at));
  assert.ok(rest, `one space, then the value alone: ${line}`);
  const text = rest![1]!;
  const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  assert.ok(text === 'NaN' || !Number.isNaN(value), `a number: ${line}`);
  return [name, labels, value];
}

function seriesKey(name: string, labels: Map<string, string>): string {
  if (labels.size === 0) return name;
  const sorted = [...labels].sort(([a], [b]) => (a < b ? -1 : 1));
  return `${name}{${sorted.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}

/** Fails unless every counter of `before` is in `after` and no less. */
export function assertCountersNotDown(before: Scrape, after: Scrape): void {
  for (const [key, value] of before) {
    if (!/_total(\{|$)/.test(key)) continue;
    const now = after.get(key);
    assert.ok(now !== undefined && now >= value, `${key} went from ${value} to ${now}`);
  }
}
