import { InvalidMessage } from './errors.js';
import { MAX_DEPTH } from './limits.js';
import { CHANNEL_KEY } from './names.js';
import type { Message } from './types.js';
import { INT64_MIN, narrowBigInt, UINT64_MAX } from './wide-integers.js';

/**
 * Checks that `message` holds only what the wire format carries exactly, so a bad
 * value fails here, with its path, rather than half-way through an I/O.
 */
export function assertMessage(
  message: unknown,
  /** What the message is, for the error's path: a lane's state is one too. */
  name = 'message',
): asserts message is Message {
  if (!isPlainObject(message)) {
    throw new InvalidMessage(name, `must be a plain object, got ${kindOf(message)}`);
  }
  if (Object.prototype.hasOwnProperty.call(message, CHANNEL_KEY)) {
    throw new InvalidMessage(`${name}.${CHANNEL_KEY}`, 'this key is reserved by the layer');
  }
  checkValue(message, name, new Set(), 0);
}

function checkValue(value: unknown, path: string, seen: Set<object>, depth: number): void {
  if (depth > MAX_DEPTH) throw new InvalidMessage(path, `nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
      // MessagePack carries UTF-8, which has no lone surrogate: Python refuses to
      // encode one, and a Python receiver would fail on what JavaScript's encoder
      // writes for it.
      if (!value.isWellFormed()) throw new InvalidMessage(path, 'string holds a lone surrogate');
      return;
    case 'boolean':
      return;
    case 'number':
      return;
    case 'bigint':
      if (value < INT64_MIN || value > UINT64_MAX)
        throw new InvalidMessage(path, 'integer beyond 64 bits (MessagePack carries no more)');
      return;
    case 'object':
      break;
    default:
      throw new InvalidMessage(path, `${kindOf(value)} cannot be sent`);
  }
  if (value === null || value instanceof Uint8Array) return;
  if (seen.has(value)) throw new InvalidMessage(path, 'circular reference');
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkValue(value[i], `${path}[${i}]`, seen, depth + 1);
  } else if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      // An own "__proto__" key (JSON.parse makes them) would set a copy's
      // prototype, and JavaScript receivers refuse to decode it.
      if (key === '__proto__')
        throw new InvalidMessage(`${path}.${key}`, 'this key cannot be sent');
      if (!key.isWellFormed())
        throw new InvalidMessage(`${path}.${key}`, 'key holds a lone surrogate');
      checkValue(value[key], `${path}.${key}`, seen, depth + 1);
    }
  } else {
    throw new InvalidMessage(path, `${kindOf(value)} cannot be sent`);
  }
  seen.delete(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/**
 * A deep copy of a message that passed assertMessage: what the in-process layer
 * hands to receivers, so that a sender changing its object afterwards changes
 * nothing they got (as with any layer that stores messages).
 */
export function copyMessage(message: Message): Message {
  return copyValue(message) as Message;
}

function copyValue(value: unknown): unknown {
  // As the Redis layer's decoding does: only integers beyond ±2^53 stay bigints.
  if (typeof value === 'bigint') return narrowBigInt(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array)
    return Buffer.isBuffer(value) ? Buffer.from(value) : new Uint8Array(value);
  if (Array.isArray(value)) return value.map(copyValue);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value))
    copy[key] = copyValue((value as Record<string, unknown>)[key]);
  return copy;
}
