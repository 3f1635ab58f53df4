/**
 * How the admin's lists read `?q=` and `?p=` and which page links they show,
 * against Django 3.2 itself (/usr/bin/python3 with Debian's python3-django): the
 * search terms of ModelAdmin.get_search_results (smart_split, quotes removed),
 * the page number of ChangeList (Python's int()), and the links of
 * Paginator.get_elided_page_range.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { elidedPageRange, searchTerms } from '../src/apps/multichat/views/changelist.js';
import { pythonInt } from '../src/apps/multichat/views/list-query.js';
import { runPython } from './helpers/cli.js';

const test = suite('admin changelist against Django');

interface DjangoChangeList {
  terms: string[][];
  numbers: (number | null)[];
  ranges: string[][];
}

const QUERIES = [
  '',
  '   ',
  'lobby',
  'two lobby',
  '"y t"',
  '"a b" c',
  "'it''s'",
  '"unterminated',
  'x"y z"w',
  '"a\\"b"',
  "'a\\'b'",
  '"a\\\\b"',
  '\\',
  '"',
  "''",
  'k\\s 100% e_c',
  // Python's whitespace, not JavaScript's: U+0085 and U+001C split, U+FEFF does not.
  'spaced\u0085out\u001cmore',
  'a\ufeffb',
  'a\u00a0b\u3000c',
  'tab\tsep\nline',
  // A quoted newline, and a backslash before one (Python's "." stops at \n only).
  '"a\nb"',
  '"a\\\nb"',
  '"a\rb" \u2028',
  'é "ü ß"',
];

/** Python's int() on these; Unicode digits ("٢") are left out, which pythonInt does not read. */
const NUMBERS = [
  '1',
  ' 2\n',
  '+3',
  '-1',
  '0',
  '1_0',
  '1__0',
  '_1',
  '2.5',
  '',
  'abc',
  '0x2',
  '\u00853\u001c',
  '\ufeff4',
  '007',
  '99999999999999999999',
];

const RANGES: [number, number][] = [
  [1, 1],
  [1, 3],
  [3, 3],
  [5, 10],
  [1, 11],
  [7, 11],
  [8, 20],
  [9, 20],
  [10, 20],
  [12, 20],
  [13, 20],
  [14, 20],
  [20, 20],
  [50, 100],
];

test('search terms, page numbers and page links are those of Django 3.2', async () => {
  const django = await runPython<DjangoChangeList>('django_changelist.py', {
    queries: QUERIES,
    numbers: NUMBERS,
    ranges: RANGES,
  });
  QUERIES.forEach((query, i) =>
    assert.equal(searchTerms(query), django.terms[i], `terms of ${JSON.stringify(query)}`),
  );
  NUMBERS.forEach((text, i) =>
    assert.equal(pythonInt(text) ?? null, django.numbers[i], `int(${JSON.stringify(text)})`),
  );
  RANGES.forEach(([page, count], i) =>
    assert.equal(
      elidedPageRange(page, count).map(String),
      django.ranges[i],
      `page ${page} of ${count}`,
    ),
  );
});

test.run();
