/** Node's parse error, with the read it failed in (Node sets both on every one). */
export interface ParseError extends NodeJS.ErrnoException {
  rawPacket?: Buffer;
  bytesParsed?: number;
}

export const LF = 0x0a;

/** Where in the read Node failed in a parse error stopped. */
export interface ParseFailure {
  /** The read (the error's rawPacket; Node keeps nothing else of the request). */
  read: Buffer;
  /** Where in it the parser stopped. */
  failedAt: number;
  /** Where the line it stopped in starts, if in this read (else 0: after no LF in it). */
  lineStart: number;
}

/** Where `error` stopped in its read, and the start of the line it stopped in. */
export function parseFailure(error: ParseError): ParseFailure {
  const read = error.rawPacket ?? Buffer.alloc(0);
  const failedAt = Math.min(error.bytesParsed ?? read.length, read.length);
  const lineStart = read.subarray(0, failedAt).lastIndexOf(LF) + 1;
  return { read, failedAt, lineStart };
}
