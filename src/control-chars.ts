/**
 * Control characters written out as JSON writes them (`\u001b`, `\n`), for
 * text bound for a terminal or a log viewer: logged values and the CLI's
 * messages carry text from clients and operators (a username, a room title, a
 * request's path, a URL), and a control character in it would act on the
 * terminal of whoever reads it (recolour it, retitle it, move the cursor over
 * earlier lines), or make the line read other than what it holds.
 *
 * "Control" here is the C0 and C1 controls, DEL, and the Unicode formatting
 * characters that reorder or break a line without showing themselves: the
 * bidirectional embeddings, overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069) and marks (U+200E, U+200F, U+061C), with which
 * "admin\u202Egnp.exe" reads "adminexe.png" ("Trojan Source"), and the line
 * and paragraph separators (U+2028, U+2029), on which some viewers start a
 * line. Other invisible characters (zero-width spaces and joiners, the soft
 * hyphen) stay: they can hide in a name as a look-alike letter can, but they
 * neither reorder a line nor break it, and scripts and emoji need the joiners.
 */

// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LAYOUT =
  // eslint-disable-next-line no-control-regex -- control characters are what is escaped
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** The controls JSON leaves as they are: all but C0 (U+2028–U+202E is one range). */
const CONTROLS_JSON_LEAVES = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Every character escaped is in the BMP: one UTF-16 unit, four hex digits. */
function escapeOne(char: string): string {
  return NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * The text with its control characters (C0, DEL, C1, bidirectional formatting,
 * line and paragraph separators) escaped (`\u001b`, `\n`, `\u202e`). With
 * `keepLayout`, newlines and tabs stay: a stack's lines are its layout.
 */
export function escapeControls(text: string, keepLayout = false): string {
  return text.replace(keepLayout ? CONTROLS_BUT_LAYOUT : CONTROLS, escapeOne);
}

/**
 * An error's stack escaped but for its line breaks, and the error's message in
 * it escaped in full: a newline there is the message's, not the stack's layout.
 */
export function escapeStack(stack: string, message: unknown): string {
  const own =
    typeof message === 'string' && message !== ''
      ? stack.replace(message, () => escapeControls(message))
      : stack;
  return escapeControls(own, true);
}

/**
 * JSON text with the control characters JSON leaves as they are escaped: DEL,
 * C1 (some terminals take U+009B as the start of an escape sequence), the
 * bidirectional ones and U+2028/U+2029. JSON escapes the C0 ones itself. In
 * JSON text, where these can only be inside strings (its own syntax is ASCII),
 * and never inside an escape (`\` is followed by ASCII), `\u202e` means the
 * same character to any reader: the line parses to the same values. One
 * regular expression's scan of the line: this runs on every log line.
 */
export function escapeWhatJsonLeaves(json: string): string {
  return json.replace(CONTROLS_JSON_LEAVES, escapeOne);
}
