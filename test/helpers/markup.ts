/**
 * Rendered HTML read as a browser lays it out, so that tests compare what a user
 * gets and not how a template happens to be wrapped. `canonical` drops only the
 * whitespace HTML's defaults do not show; text, entities (escaping), tags, their
 * attributes and values, and their order are kept exactly as sent.
 */
import type { HttpResult } from './http-client.js';

/** Boxes of their own (HTML's default display other than inline): whitespace at their edges is not shown. */
const BLOCKS = new Set(
  `!doctype html head body title meta link script style base noscript template address article aside
  blockquote details dialog dd div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6
  header hgroup hr legend li main menu nav ol optgroup option p pre search section summary table
  caption colgroup col thead tbody tfoot tr td th ul br`.split(/\s+/),
);

/** Inline boxes with a box inside: whitespace just inside their tags is not shown, beside them it is. */
const INLINE_BLOCKS = new Set([
  'button',
  'select',
  'meter',
  'progress',
  'video',
  'audio',
  'object',
]);

/** Elements whose content is text up to their end tag, kept as sent (textarea's whitespace is its value). */
const RAW_TEXT = new Set(['script', 'style', 'textarea']);

interface Token {
  kind: 'text' | 'verbatim' | 'comment' | 'tag';
  value: string;
  /** For tags: a box of its own; whether whitespace before and after it is shown. */
  block?: boolean;
  spaceBefore?: boolean;
  spaceAfter?: boolean;
}

/** Elements a newline just after whose start tag the parser drops. */
const LEADING_NEWLINE_DROPPED = new Set(['pre', 'textarea', 'listing']);
const NEWLINE = /\r?\n/y;

/** HTML's whitespace (not \s: U+00A0, U+0085 and the like are text, and shown). */
const SPACE = /[ \t\n\f\r]+/g;

const COMMENT = /<!--[\s\S]*?-->/y;
const DECLARATION = /<![^>]*>/y;
const START_TAG = /<([A-Za-z][^\s/>]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/y;
const ATTRIBUTE = /([^\s"'>/=]+)(?:[ \t\n\f\r]*=[ \t\n\f\r]*("[^"]*"|'[^']*'|[^\s>]+))?/g;
const END_TAG = /<\/([A-Za-z][^\s/>]*)[^>]*>/y;

/** The match of a sticky `pattern` at `index` in `markup`, if any. */
function at(pattern: RegExp, markup: string, index: number): RegExpExecArray | null {
  pattern.lastIndex = index;
  return pattern.exec(markup);
}

function tokenize(markup: string): Token[] {
  const tokens: Token[] = [];
  const lower = markup.toLowerCase();
  let text = '';
  let pre = 0;
  const flush = (): void => {
    if (text) tokens.push({ kind: pre > 0 ? 'verbatim' : 'text', value: text });
    text = '';
  };
  const tag = (value: string, name: string, start: boolean): void => {
    flush();
    const block = BLOCKS.has(name);
    const boxed = INLINE_BLOCKS.has(name);
    tokens.push({
      kind: 'tag',
      value,
      block,
      spaceBefore: !block && !(boxed && !start),
      spaceAfter: !block && !(boxed && start),
    });
  };
  let i = 0;
  while (i < markup.length) {
    const lt = markup.indexOf('<', i);
    if (lt === -1) {
      text += markup.slice(i);
      break;
    }
    text += markup.slice(i, lt);
    let match: RegExpExecArray | null;
    if ((match = at(COMMENT, markup, lt))) {
      flush();
      tokens.push({ kind: 'comment', value: match[0] });
      i = lt + match[0].length;
    } else if ((match = at(DECLARATION, markup, lt))) {
      tag(match[0].replace(SPACE, ' ').replace(/^<!doctype\b/i, '<!doctype'), '!doctype', true);
      i = lt + match[0].length;
    } else if ((match = at(START_TAG, markup, lt))) {
      const name = match[1]!.toLowerCase();
      const attributes = Array.from(match[2]!.matchAll(ATTRIBUTE), ([, attribute, value]) =>
        value === undefined ? ` ${attribute}` : ` ${attribute}=${value}`,
      );
      tag(`<${match[1]}${attributes.join('')}>`, name, true);
      if (name === 'pre') pre++;
      i = lt + match[0].length;
      // A newline just after these start tags is not their content (HTML's parsing rules).
      if (LEADING_NEWLINE_DROPPED.has(name) && at(NEWLINE, markup, i)) i = NEWLINE.lastIndex;
      if (RAW_TEXT.has(name)) {
        const close = lower.indexOf(`</${name}`, i);
        const stop = close === -1 ? markup.length : close;
        if (stop > i) tokens.push({ kind: 'verbatim', value: markup.slice(i, stop) });
        i = stop;
      }
    } else if ((match = at(END_TAG, markup, lt))) {
      const name = match[1]!.toLowerCase();
      tag(`</${match[1]}>`, name, false);
      if (name === 'pre' && pre > 0) pre--;
      i = lt + match[0].length;
    } else {
      text += '<'; // not a tag: text, as a browser reads it
      i = lt + 1;
    }
  }
  flush();
  return tokens;
}

/**
 * The markup as laid out with HTML's default styles: whitespace in text is one
 * space, or none where it meets a block's edge (or the inside of a button's);
 * whitespace between a tag's attributes is one space, and none before `>` or a
 * start tag's `/>`; a newline just after `<pre>` or `<textarea>` goes, as the
 * parser drops it. Inside pre, script, style and textarea nothing else changes.
 * Two renderings with the same canonical form look the same under HTML's default
 * display of each element (the stylesheet is not read: chat.css keeps spaces,
 * white-space: pre-wrap, only in the chat page's messages and alerts); anything
 * else, a word, an entity, an attribute or its value, the order of elements,
 * stays a difference.
 */
export function canonical(markup: string): string {
  const tokens = tokenize(markup);
  return tokens
    .map((token, i) => {
      if (token.kind !== 'text') return token.value;
      let value = token.value.replace(SPACE, ' ');
      const before = tokens[i - 1];
      const after = tokens[i + 1];
      if (value.startsWith(' ') && (!before || before.spaceAfter === false)) value = value.slice(1);
      if (value.endsWith(' ') && (!after || after.spaceBefore === false))
        value = value.slice(0, -1);
      return value;
    })
    .join('');
}

/** A response's page, in canonical form: what tests read its markup from. */
export function markupOf(result: HttpResult): string {
  return canonical(result.body.toString());
}

/** Markup's text, as a reader gets it: tags gone (a block's a space), entities decoded, spaces collapsed. */
export function plain(markup: string): string {
  return tokenize(markup)
    .map((token) => {
      if (token.kind === 'comment') return '';
      if (token.kind === 'tag') return token.block ? ' ' : '';
      return token.value;
    })
    .join('')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/&#x60;/g, '`')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
