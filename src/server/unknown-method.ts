import { LF, parseFailure, type ParseError } from './parse-error.js';

/** 501 for a method Node does not know on a well-formed request line (RFC 9110 §9.1, §15.6.2), 400 for garbage. */
export type InvalidMethodStatus = 400 | 501;

/**
 * A well-formed HTTP/1.x request line (RFC 9112 §3): a method (a token, RFC
 * 9110 §5.6.2), one space, a target of visible characters, one space, an
 * HTTP/1.x version, CRLF.
 */
const WELL_FORMED_REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [\x21-\x7e]+ HTTP\/1\.\d\r\n$/;

/**
 * The status for Node's HPE_INVALID_METHOD. llhttp knows a fixed list of
 * methods and refuses any other as it reads it, with the same code as for
 * bytes that are no request at all: the request line Node failed in tells
 * them apart. Node keeps none of it; the read it failed in is the error's
 * rawPacket, failing at bytesParsed, always at a line's start (the method
 * comes first). A line that has not ended in that read cannot be checked:
 * 400, as a line cut off is no request.
 */
export function invalidMethodStatus(error: ParseError): InvalidMethodStatus {
  const { read, failedAt, lineStart } = parseFailure(error);
  const lineEnd = read.indexOf(LF, failedAt);
  if (lineEnd === -1) return 400;
  const line = read.subarray(lineStart, lineEnd + 1).toString('latin1');
  return WELL_FORMED_REQUEST_LINE.test(line) ? 501 : 400;
}
