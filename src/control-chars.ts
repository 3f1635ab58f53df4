/**
 * Control characters written out as JSON writes them, for text bound for a
 * terminal: logged values carry client text (a username, a room title, a
 * request's path), and an escape sequence in it would act on the terminal of
 * whoever reads the log (recolour it, retitle it, move the cursor over earlier
 * lines).
 */

// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const CONTROLS_BUT_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** DEL and C1: what JSON leaves as they are. */
const DEL_AND_C1 = /[\u007f-\u009f]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(char: string): string {
  return NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * The text with its control characters (C0, DEL, C1) escaped (`\u001b`, `\n`).
 * With `keepLayout`, newlines and tabs stay: a stack's lines are its layout.
 */
export function escapeControls(text: string, keepLayout = false): string {
  return text.replace(keepLayout ? CONTROLS_BUT_LAYOUT : CONTROLS, escapeOne);
}

/**
 * DEL and the C1 controls (U+0080–U+009F) escaped, the rest left: JSON escapes
 * the C0 ones but not these, and some terminals take U+009B as the start of an
 * escape sequence. In JSON text, where they can only be inside strings, the
 * escapes mean the same characters to any reader.
 */
export function escapeDelAndC1(text: string): string {
  return text.replace(DEL_AND_C1, escapeOne);
}
