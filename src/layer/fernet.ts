import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** Seconds a token's timestamp may be ahead of the reader's clock (cryptography's _MAX_CLOCK_SKEW). */
const MAX_CLOCK_SKEW = 60;

/**
 * Fernet (https://github.com/fernet/spec) with the key derivation channels_redis
 * uses: key = urlsafe-base64(sha256(secret)). Written here rather than pulled in:
 * the format is a few lines over node:crypto, and the npm packages for it are
 * unmaintained wrappers around crypto-js.
 */
export class Fernet {
  private readonly signingKey: Buffer;
  private readonly encryptionKey: Buffer;

  constructor(secret: string | Uint8Array) {
    const digest = createHash('sha256').update(secret).digest();
    this.signingKey = digest.subarray(0, 16);
    this.encryptionKey = digest.subarray(16, 32);
  }

  /** Returns the token as ASCII bytes (urlsafe base64), as Python's Fernet does. */
  encrypt(plaintext: Uint8Array, now = Date.now()): Buffer {
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', this.encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const header = Buffer.alloc(9);
    header[0] = 0x80;
    header.writeBigUInt64BE(BigInt(Math.floor(now / 1000)), 1);
    const signed = Buffer.concat([header, iv, ciphertext]);
    const hmac = createHmac('sha256', this.signingKey).update(signed).digest();
    // Python's Fernet writes (and insists on) padded urlsafe base64; Node's
    // "base64url" drops the padding, so translate standard base64 instead.
    const token = Buffer.concat([signed, hmac])
      .toString('base64')
      .replace(/\+/g, '-')
      .replace(/\//g, '_');
    return Buffer.from(token, 'ascii');
  }

  /**
   * Returns the plaintext, or null when the token is not ours, tampered, or (with
   * a `ttl`) older than `ttl` seconds or stamped more than MAX_CLOCK_SKEW seconds
   * ahead: Python's Fernet refuses those, so a channels_redis receiver drops
   * such a message and a Gredis one must too.
   */
  decrypt(token: Uint8Array, ttl?: number, now = Date.now()): Buffer | null {
    const data = Buffer.from(Buffer.from(token).toString('ascii'), 'base64url');
    if (data.length < 57 || data[0] !== 0x80 || (data.length - 57) % 16 !== 0) return null;
    const signed = data.subarray(0, data.length - 32);
    const expected = createHmac('sha256', this.signingKey).update(signed).digest();
    if (!timingSafeEqual(expected, data.subarray(data.length - 32))) return null;
    const timestamp = Number(data.readBigUInt64BE(1));
    if (ttl !== undefined) {
      // Whole seconds, as Python's int(time.time()).
      const seconds = Math.floor(now / 1000);
      if (timestamp + ttl < seconds || seconds + MAX_CLOCK_SKEW < timestamp) return null;
    }
    const decipher = createDecipheriv('aes-128-cbc', this.encryptionKey, data.subarray(9, 25));
    try {
      return Buffer.concat([
        decipher.update(data.subarray(25, data.length - 32)),
        decipher.final(),
      ]);
    } catch {
      return null;
    }
  }
}

/** The first key encrypts; every key is tried to decrypt (key rotation). */
export class MultiFernet {
  private readonly fernets: Fernet[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new RangeError('MultiFernet needs at least one key');
    this.fernets = secrets.map((secret) => new Fernet(secret));
  }

  /** `now`: epoch milliseconds of the token (the layer's clock). */
  encrypt(plaintext: Uint8Array, now?: number): Buffer {
    return this.fernets[0]!.encrypt(plaintext, now);
  }

  decrypt(token: Uint8Array, ttl?: number, now?: number): Buffer | null {
    for (const fernet of this.fernets) {
      const plaintext = fernet.decrypt(token, ttl, now);
      if (plaintext) return plaintext;
    }
    return null;
  }
}
