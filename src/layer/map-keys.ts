import { DecodeError } from '@msgpack/msgpack';

const utf8 = new TextDecoder();

/**
 * The JavaScript key of a MessagePack map key. Python senders may use bytes keys
 * (channels_redis unpacks with msgpack's strict_map_key, which allows str and
 * bytes), which the MessagePack library refuses, and the whole message was then
 * dropped as malformed. A bytes key becomes its UTF-8 text (an invalid sequence
 * as U+FFFD): what a Python sender means by b"type" is "type". Where a str key
 * and a bytes key read the same, the later one wins. Any other key (a number, as
 * a Python {1: "a"} packs) is refused, the message skipped as malformed, as
 * strict_map_key makes a channels_redis receiver refuse it: delivered here it
 * came out with "1" for 1, which no Python receiver ever sees. "__proto__" from
 * bytes is refused as the library refuses it from a str: it would set the
 * object's prototype.
 */
export function mapKey(key: unknown): string {
  if (typeof key === 'string') return key;
  if (key instanceof Uint8Array) {
    const text = utf8.decode(key);
    if (text === '__proto__') throw new DecodeError('The key __proto__ is not allowed');
    return text;
  }
  throw new DecodeError(`The type of key must be string or bytes but ${typeof key}`);
}
