/**
 * The characters Python's str.isspace() accepts (bidirectional class WS, B or S, or
 * category Zs), which str.strip() removes and so Django's forms (CharField's
 * strip=True) do. JavaScript's trim() differs: it also strips U+FEFF, and keeps
 * U+001C–U+001F and U+0085. All are in the BMP, so one UTF-16 unit each.
 */
const PYTHON_SPACE_RANGES: readonly (readonly [number, number])[] = [
  [0x09, 0x0d],
  [0x1c, 0x20],
  [0x85, 0x85],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

const PYTHON_SPACE = new Set(
  PYTHON_SPACE_RANGES.flatMap(([first, last]) =>
    Array.from({ length: last - first + 1 }, (_, i) => first + i),
  ),
);

const hex = (code: number): string => `\\u${code.toString(16).padStart(4, '0')}`;

/**
 * Python's `\s` in a str pattern, as a RegExp character class body: JavaScript's
 * `\s` is another set (it has U+FEFF, lacks U+001C–U+001F and U+0085).
 */
export const PYTHON_SPACE_CLASS = PYTHON_SPACE_RANGES.map(([first, last]) =>
  first === last ? hex(first) : `${hex(first)}-${hex(last)}`,
).join('');

/**
 * `text` without leading and trailing whitespace, exactly as Python's str.strip()
 * with no argument: what a Django form field does to text it reads, so the same
 * input is stored the same here. A scan rather than a regex, which would take
 * quadratic time on a long run of spaces before a last non-space.
 */
export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PYTHON_SPACE.has(text.charCodeAt(start))) start++;
  while (end > start && PYTHON_SPACE.has(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/**
 * `text`'s words as Python's str.split() with no argument finds them: split on
 * runs of its whitespace, none empty. Django's truncatewords splits so.
 */
export function pythonSplit(text: string): string[] {
  const words: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const space = i === text.length || PYTHON_SPACE.has(text.charCodeAt(i));
    if (space && start >= 0) {
      words.push(text.slice(start, i));
      start = -1;
    } else if (!space && start < 0) start = i;
  }
  return words;
}

/**
 * Django's truncatewords filter (Truncator.words with truncate=' …'): the first
 * `count` words, as Python splits them, joined by one space, then " …" if any were
 * cut, unless what is kept ends so already (Truncator.add_truncation_text).
 */
export function truncateWords(text: string, count: number): string {
  const words = pythonSplit(text);
  const kept = words.slice(0, count).join(' ');
  if (words.length <= count || kept.endsWith(' …')) return kept;
  return `${kept} …`;
}
