/**
 * pythonStrip against Python itself (/usr/bin/python3 with Debian's python3-django):
 * for every code point that Python's str.isspace() or JavaScript's trim() takes for
 * whitespace, the same result as str.strip() and as a Django forms.CharField; and
 * so pythonSplit as str.split(), and truncateWords as Django's truncatewords.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { pythonSplit, pythonStrip, truncateWords } from '../src/python-strip.js';
import { runPython } from './helpers/cli.js';

const test = suite('pythonStrip');

interface DjangoStrip {
  spaces: number[];
  cleaned: string[];
  stripped: string[];
  split: string[][];
  truncated: string[];
}

/** Code points (surrogates aside: no text has them alone) that trim() removes. */
function javascriptSpaces(): number[] {
  const spaces: number[] = [];
  for (let c = 0; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    if (String.fromCodePoint(c).trim() === '') spaces.push(c);
  }
  return spaces;
}

/** Where a character sits decides whether strip() removes it: each place once. */
function placings(c: string): string[] {
  // The last two have three words, which truncatewords:"2" cuts, the last after a
  // "…" of its own, which Django does not add to.
  return [
    c,
    `${c}x${c}`,
    `x${c}y`,
    `${c}${c}x ${c}y${c}${c}`,
    ` ${c}\t`,
    `x ${c}`,
    `a${c}b ${c} c${c}`,
    `a${c}…${c}c`,
  ];
}

test('strips, splits and truncates words exactly as Python and Django do, for every whitespace code point of either', async () => {
  const js = javascriptSpaces();
  const { spaces: python } = await runPython<DjangoStrip>('django_strip.py', []);
  const all = [...new Set([...js, ...python])].sort((a, b) => a - b);
  // The ones that differ, so a test that passes proves something.
  for (const c of [0x1c, 0x1d, 0x1e, 0x1f, 0x85]) assert.ok(python.includes(c) && !js.includes(c));
  assert.ok(js.includes(0xfeff) && !python.includes(0xfeff));
  const texts = all.flatMap((c) => placings(String.fromCodePoint(c)));
  const django = await runPython<DjangoStrip>('django_strip.py', texts);
  const hex = (text: string): string =>
    [...text].map((ch) => ch.codePointAt(0)!.toString(16)).join(' ');
  texts.forEach((text, i) => {
    assert.is(pythonStrip(text), django.stripped[i], `str.strip() of ${hex(text)}`);
    assert.is(pythonStrip(text), django.cleaned[i], `CharField of ${hex(text)}`);
    assert.equal(pythonSplit(text), django.split[i], `str.split() of ${hex(text)}`);
    assert.is(truncateWords(text, 2), django.truncated[i], `truncatewords:"2" of ${hex(text)}`);
  });
});

test('other text is left alone, and a long run of spaces takes linear time', () => {
  // U+200B and U+180E are no whitespace to either (U+180E was, before Unicode 6.3).
  for (const text of ['', 'x', 'a b', '🔑', '\u200b x \u200b', '\u180ex\u180e'])
    assert.is(pythonStrip(text), text);
  const spaces = ' '.repeat(1_000_000);
  const started = performance.now();
  assert.is(pythonStrip(`${spaces}x${spaces}y${spaces}`), `x${spaces}y`);
  assert.ok(performance.now() - started < 1000);
});

test.run();
