/**
 * How deep below the message a value may sit: what Python's msgpack packs
 * (recursion limit 511), so Gredis sends, and passes on, every message a
 * channels_redis process can send, and refuses what that process would refuse.
 */
export const MAX_DEPTH = 511;

/** The MessagePack encoder's own limit for that: it counts the message as depth 1. */
export const ENCODER_MAX_DEPTH = MAX_DEPTH + 1;
