/**
 * Integers beyond JavaScript's safe range (±2^53), which Python's ints carry
 * exactly (an id, a hash): layer.md says integers stay integers. They travel as
 * MessagePack's 64-bit integers and are `bigint`s on this side; every other
 * integer stays a `number`. The MessagePack library does one or the other for
 * all 64-bit values (with `useBigInt64` a timestamp in ms would become a bigint
 * on the way in and a float on the way out), so the two are mixed here, only
 * for messages that need it.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { mapKey } from './map-keys.js';
import { ENCODER_MAX_DEPTH } from './limits.js';

const UINT32_LIMIT = 2 ** 32;
const INT32_MIN = -(2 ** 31);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** MessagePack's range: int 64 down to -2^63, uint 64 up to 2^64 - 1. */
export const INT64_MIN = -(BigInt(2) ** BigInt(63));
export const UINT64_MAX = BigInt(2) ** BigInt(64) - BigInt(1);

/** MessagePack's markers of uint 64 and int 64: without either byte, no 64-bit integer. */
const UINT64_MARKER = 0xcf;
const INT64_MARKER = 0xd3;

/**
 * Encodes and decodes messages that hold integers beyond ±2^53. Costs nothing
 * on the common path: the codec comes here only when its plain encoder refused
 * a bigint, or when packed bytes may hold a 64-bit integer.
 */
export class WideIntegers {
  private readonly encoder = new Encoder({ useBigInt64: true, maxDepth: ENCODER_MAX_DEPTH });
  private readonly decoder = new Decoder({ useBigInt64: true, mapKeyConverter: mapKey });

  /** Whether `packed` may hold a 64-bit integer (a string's bytes may look like one too). */
  static mayHold(packed: Uint8Array): boolean {
    return packed.includes(UINT64_MARKER) || packed.includes(INT64_MARKER);
  }

  /** Whether `value` holds a bigint, which only this encoder can write. */
  static needed(value: unknown): boolean {
    if (typeof value === 'bigint') return true;
    if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return false;
    return Object.values(value).some(WideIntegers.needed);
  }

  /** MessagePack for a value holding bigints: every integer an integer, none a float. */
  encode(value: unknown): Uint8Array {
    return this.encoder.encode(widen(value));
  }

  /** Decodes `packed`: integers beyond ±2^53 as bigints, every other one a number. */
  decode(packed: Uint8Array): unknown {
    return narrow(this.decoder.decode(packed));
  }
}

/**
 * A copy whose integers beyond 32 bits are bigints: the encoder in `useBigInt64`
 * mode writes those as 64-bit integers, and numbers there as floats.
 */
function widen(value: unknown): unknown {
  if (typeof value === 'number') {
    const wide = Number.isSafeInteger(value) && (value >= UINT32_LIMIT || value < INT32_MIN);
    return wide ? BigInt(value) : value;
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(widen);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = widen((value as Record<string, unknown>)[key]);
  return copy;
}

/** A bigint within ±2^53 as the number it is; what any layer hands to receivers. */
export function narrowBigInt(value: bigint): bigint | number {
  return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

/** In place: bigints within ±2^53 become numbers again. */
function narrow(value: unknown): unknown {
  if (typeof value === 'bigint') return narrowBigInt(value);
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = narrow(value[i]);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = narrow(record[key]);
  return value;
}
