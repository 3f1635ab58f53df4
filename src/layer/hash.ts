import { crc32 } from 'node:zlib';

/**
 * The host index channels_redis picks for a name: 0 with one host, else the CRC32
 * of the UTF-8 name folded to 0..4095 and scaled down to the host count.
 */
export function consistentHash(name: string, hostCount: number): number {
  if (hostCount === 1) return 0;
  const folded = crc32(Buffer.from(name, 'utf8')) & 0xfff;
  return Math.floor(folded / (4096 / hostCount));
}
