import { randomFillSync } from 'node:crypto';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { MalformedPayload } from './errors.js';
import { MultiFernet } from './fernet.js';
import { mapKey } from './map-keys.js';
import { ENCODER_MAX_DEPTH } from './limits.js';
import { CHANNEL_KEY } from './names.js';
import type { Message } from './types.js';
import { WideIntegers } from './wide-integers.js';

/** Length of the random prefix that keeps equal messages distinct in a sorted set. */
export const RANDOM_PREFIX_LENGTH = 12;

/** A message encoded once, ready to be stamped with different `__asgi_channel__` values. */
export interface EncodedBody {
  /** The map's entries without the map header. */
  readonly entries: Uint8Array;
  /** How many entries. */
  readonly count: number;
}

export interface Decoded {
  message: Message;
  /** The `__asgi_channel__` value the sender stamped, removed from `message`. */
  channels: string | string[] | undefined;
}

const CHANNEL_KEY_BYTES = new Encoder().encode(CHANNEL_KEY);
const POOL_SIZE = RANDOM_PREFIX_LENGTH * 512;

/**
 * The stored-bytes format of layer.md: 12 random bytes, then MessagePack (str as
 * str, bytes as bin, floats as float64), Fernet-encrypted when keys are set.
 */
export class Codec {
  private readonly encoder = new Encoder({ maxDepth: ENCODER_MAX_DEPTH });
  private readonly decoder = new Decoder({ mapKeyConverter: mapKey });
  private readonly wide = new WideIntegers();
  private readonly crypter: MultiFernet | undefined;
  private readonly pool = Buffer.allocUnsafe(POOL_SIZE);
  private poolOffset = POOL_SIZE;

  constructor(
    encryptionKeys: readonly string[],
    private readonly expiry: number,
    /** Epoch seconds of Fernet tokens: the layer's clock (see ServerClock). */
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.crypter = encryptionKeys.length > 0 ? new MultiFernet(encryptionKeys) : undefined;
  }

  /** Whether stored bytes are encrypted, so that only this side can make them. */
  get encrypts(): boolean {
    return this.crypter !== undefined;
  }

  /** A fresh random prefix, for bytes put together elsewhere (a script in Redis). */
  prefix(): Buffer {
    const out = Buffer.allocUnsafe(RANDOM_PREFIX_LENGTH);
    this.randomPrefix(out);
    return out;
  }

  /** Stored bytes for `message`, stamped with `channels` when given. */
  encode(message: Message, channels?: string | string[]): Buffer {
    if (channels === undefined) return this.seal(this.pack(message, true));
    return this.stamp(this.encodeBody(message), channels);
  }

  /** Encodes a message's entries once; `stamp` then makes each key's variant cheaply. */
  encodeBody(message: Message): EncodedBody {
    const full = this.pack(message, false);
    const { count, headerLength } = readMapHeader(full);
    return { entries: full.subarray(headerLength), count };
  }

  /** Stored bytes for a pre-encoded body plus `__asgi_channel__` = `channels`. */
  stamp(body: EncodedBody, channels: string | string[]): Buffer {
    const header = mapHeader(body.count + 1);
    const value = this.encoder.encodeSharedRef(channels);
    const plain = Buffer.allocUnsafe(
      header.length + body.entries.length + CHANNEL_KEY_BYTES.length + value.length,
    );
    let offset = 0;
    plain.set(header, offset);
    offset += header.length;
    plain.set(body.entries, offset);
    offset += body.entries.length;
    plain.set(CHANNEL_KEY_BYTES, offset);
    offset += CHANNEL_KEY_BYTES.length;
    plain.set(value, offset);
    return this.seal(plain);
  }

  decode(payload: Uint8Array): Decoded {
    if (payload.length <= RANDOM_PREFIX_LENGTH) {
      throw new MalformedPayload(`${payload.length} bytes is shorter than the random prefix`);
    }
    let packed: Uint8Array = payload.subarray(RANDOM_PREFIX_LENGTH);
    if (this.crypter) {
      const plain = this.crypter.decrypt(packed, this.expiry + 10, this.now() * 1000);
      if (!plain) throw new MalformedPayload('cannot be decrypted with any configured key');
      packed = plain;
    }
    let value: unknown;
    try {
      value = WideIntegers.mayHold(packed) ? this.wide.decode(packed) : this.decoder.decode(packed);
    } catch (error) {
      throw new MalformedPayload('not MessagePack', { cause: error });
    }
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      value instanceof Uint8Array
    ) {
      throw new MalformedPayload('not a map');
    }
    const message = value as Message;
    const stamped = message[CHANNEL_KEY];
    let channels: string | string[] | undefined;
    if (stamped !== undefined) {
      delete message[CHANNEL_KEY];
      if (typeof stamped === 'string') channels = stamped;
      else if (Array.isArray(stamped) && stamped.every((c) => typeof c === 'string')) {
        channels = stamped as string[];
      } else throw new MalformedPayload(`${CHANNEL_KEY} is neither a string nor a list of strings`);
    }
    return { message, channels };
  }

  /**
   * MessagePack for `message` (`shared`: in the encoder's own buffer, valid until
   * its next call). The plain encoder refuses bigints: a message that holds one
   * (an integer beyond ±2^53) is encoded by WideIntegers instead.
   */
  private pack(message: Message, shared: boolean): Uint8Array {
    try {
      return shared ? this.encoder.encodeSharedRef(message) : this.encoder.encode(message);
    } catch (error) {
      if (!WideIntegers.needed(message)) throw error;
      return this.wide.encode(message);
    }
  }

  /** Prepends the random prefix to (encrypted) packed bytes. */
  private seal(packed: Uint8Array): Buffer {
    const body = this.crypter ? this.crypter.encrypt(packed, this.now() * 1000) : packed;
    const out = Buffer.allocUnsafe(RANDOM_PREFIX_LENGTH + body.length);
    this.randomPrefix(out);
    out.set(body, RANDOM_PREFIX_LENGTH);
    return out;
  }

  private randomPrefix(target: Buffer): void {
    if (this.poolOffset + RANDOM_PREFIX_LENGTH > POOL_SIZE) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    this.pool.copy(target, 0, this.poolOffset, this.poolOffset + RANDOM_PREFIX_LENGTH);
    this.poolOffset += RANDOM_PREFIX_LENGTH;
  }
}

function readMapHeader(bytes: Uint8Array): { count: number; headerLength: number } {
  const first = bytes[0]!;
  if ((first & 0xf0) === 0x80) return { count: first & 0x0f, headerLength: 1 };
  if (first === 0xde) return { count: (bytes[1]! << 8) | bytes[2]!, headerLength: 3 };
  if (first === 0xdf) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, 5);
    return { count: view.getUint32(1), headerLength: 5 };
  }
  throw new TypeError('encoded message is not a MessagePack map');
}

function mapHeader(count: number): Uint8Array {
  if (count < 16) return Uint8Array.of(0x80 | count);
  if (count < 0x10000) return Uint8Array.of(0xde, count >> 8, count & 0xff);
  const header = new Uint8Array(5);
  header[0] = 0xdf;
  new DataView(header.buffer).setUint32(1, count);
  return header;
}
