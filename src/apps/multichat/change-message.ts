/**
 * Django's admin change messages: the JSON its construct_change_message stores
 * in a log entry (field labels in English, translated only when shown), and the
 * sentence LogEntry.get_change_message makes of it ("Changed Title and Staff only.").
 */

/** One part of a stored message; Gredis writes the first two forms, Django's inlines the rest. */
export type ChangeMessagePart =
  | { added: Record<string, never> | { name: string; object: string } }
  | { changed: { fields: string[]; name?: string; object?: string } }
  | { deleted: { name: string; object: string } };

/**
 * construct_change_message for a form saved: "added" for an addition, else the
 * labels of the fields that changed (none: an empty list, which Django logs all
 * the same, shown as "No fields changed.").
 */
export function changeMessage(
  add: boolean,
  changedLabels: readonly string[] = [],
): ChangeMessagePart[] {
  if (add) return [{ added: {} }];
  return changedLabels.length > 0 ? [{ changed: { fields: [...changedLabels] } }] : [];
}

/**
 * A message as LogEntryManager.log_action stores it: Python's json.dumps, whose
 * separators are ", " and ": " and which escapes every character past ASCII, so
 * that the column holds what Django would have written, byte for byte.
 */
export function storedChangeMessage(parts: readonly ChangeMessagePart[]): string {
  return pythonJson(parts);
}

function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object' && value !== null)
    return `{${Object.entries(value)
      .map(([key, item]) => `${pythonJson(key)}: ${pythonJson(item)}`)
      .join(', ')}}`;
  return JSON.stringify(value).replace(
    /[-￿]/g,
    (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * LogEntry.get_change_message: a stored JSON list as its sentences, each
 * capitalised, joined by spaces ("No fields changed." if none); any other text
 * (a message Django stored before 1.10, or JSON it cannot read) as it is.
 */
export function changeMessageText(stored: string): string {
  if (!stored.startsWith('[')) return stored;
  let parts: unknown;
  try {
    parts = JSON.parse(stored);
  } catch {
    return stored;
  }
  if (!Array.isArray(parts)) return stored;
  const messages = parts.flatMap((part: unknown) => {
    const sentence = partText(part);
    return sentence === undefined ? [] : [sentence];
  });
  const text = messages.map((message) => capitalised(message)).join(' ');
  return text || 'No fields changed.';
}

function partText(part: unknown): string | undefined {
  if (typeof part !== 'object' || part === null) return undefined;
  const record = part as Record<string, Record<string, unknown> | undefined>;
  if ('added' in record) {
    const added = record.added;
    return added && Object.keys(added).length > 0
      ? `Added ${String(added.name)} “${String(added.object)}”.`
      : 'Added.';
  }
  if ('changed' in record) {
    const changed = record.changed ?? {};
    const fields = textList(Array.isArray(changed.fields) ? changed.fields.map(String) : []);
    return 'name' in changed
      ? `Changed ${fields} for ${String(changed.name)} “${String(changed.object)}”.`
      : `Changed ${fields}.`;
  }
  if ('deleted' in record) {
    const deleted = record.deleted ?? {};
    return `Deleted ${String(deleted.name)} “${String(deleted.object)}”.`;
  }
  return undefined;
}

/** Django's get_text_list(items, 'and'): "a", "a and b", "a, b and c". */
function textList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`;
}

/** Python's msg[0].upper() + msg[1:]: the first code point upper-cased. */
function capitalised(text: string): string {
  const first = String.fromCodePoint(text.codePointAt(0) ?? 0);
  return text === '' ? '' : `${first.toUpperCase()}${text.slice(first.length)}`;
}
