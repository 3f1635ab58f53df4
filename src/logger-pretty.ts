/**
 * The pretty log format's pino transport (createLogger's, when stdout is a
 * terminal): pino-pretty, with every control character of the logged values
 * escaped. Logged values carry client text (a username or a room title in a
 * database error's message, a request's path), and pino-pretty (13.2) prints a
 * message, the logger's name, a key and a stack as text, with their control
 * characters but newline and tab removed: a newline in a message would print a
 * forged log line, a bidirectional override would make it read other than it
 * holds, and what was removed (an escape sequence that would act on the
 * operator's terminal: recolour it, retitle it, move the cursor over earlier
 * lines) would not be seen to have been sent. It prints the other values as
 * JSON, which escapes C0 controls but not DEL, the C1 ones (U+0080–U+009F,
 * whose U+009B some terminals take as an escape sequence's start) nor the
 * Unicode ones (control-chars.ts says which). Loaded by pino in its transport
 * worker thread, by file path.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { prettyFactory, type PrettyOptions } from 'pino-pretty';
import { escapeControls, escapeStack, escapeWhatJsonLeaves } from './control-chars.js';

/**
 * A log line's values as pino-pretty must print them: those it prints as text
 * (the message, the logger's name, the keys, every error's stack) escaped
 * here; those it prints as JSON are escaped by it, but for the controls JSON
 * leaves, escaped wherever they are in its output (it writes none itself: its
 * colours are 7-bit sequences).
 */
function escapeRawValues(log: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(log))
    shown[escapeControls(key)] =
      (key === 'msg' || key === 'name') && typeof value === 'string'
        ? escapeControls(value)
        : escapeStacks(value, 0);
  return shown;
}

/** The value with every `stack` in it escaped (escapeStack). */
function escapeStacks(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => escapeStacks(item, depth + 1));
  const record = value as Record<string, unknown>;
  const shown: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(record))
    shown[key] =
      key === 'stack' && typeof inner === 'string'
        ? escapeStack(inner, record.message)
        : escapeStacks(inner, depth + 1);
  return shown;
}

function prettyLine(pretty: (log: unknown) => string, line: string): string {
  let log: unknown;
  try {
    log = JSON.parse(line);
  } catch {
    // Not pino's (it writes nothing else): shown as text, escaped.
    return `${escapeControls(line)}\n`;
  }
  if (typeof log !== 'object' || log === null) return `${escapeControls(line)}\n`;
  return escapeWhatJsonLeaves(pretty(escapeRawValues(log as Record<string, unknown>)));
}

/** The transport: pino's JSON lines in, escaped pretty lines out on stdout. */
export default function prettyTransport(options: PrettyOptions = {}): Writable {
  const pretty = prettyFactory(options);
  const destination = pino.destination({ dest: 1, sync: false });
  let partial = '';
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      const out = lines
        .filter(Boolean)
        .map((line) => prettyLine(pretty, line))
        .join('');
      if (out && !destination.write(out)) destination.once('drain', () => callback());
      else callback();
    },
    final(callback) {
      if (partial) destination.write(prettyLine(pretty, partial));
      destination.once('close', () => callback());
      destination.end();
    },
  });
}
