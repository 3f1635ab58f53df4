import type { Socket } from 'node:net';
import { LF, parseFailure, type ParseError } from './parse-error.js';

/** 414 for a request target past the limit (RFC 9110 §15.5.15), 431 for header fields (RFC 6585 §5). */
export type OverflowStatus = 414 | 431;

/**
 * How long the rest of a line is awaited when its start came in an earlier
 * read: a client sends its request in one go, so the rest follows within a
 * round trip; one that stops mid-line is told 431, the header limit's usual
 * answer.
 */
const LINE_END_WAIT_MS = 1000;

/** A request line's start (Node's methods are upper-case letters and `-`): header lines and folds never look so. */
const REQUEST_LINE_START = /^[A-Z-]+ /;

/** A request line's end: its version, then CR. */
const REQUEST_LINE_END = / HTTP\/\d\.\d\r$/;

/** Sockets whose overflowing line began before the read Node failed in, with what hears their later reads. */
const awaitingLineEnd = new WeakMap<Socket, (error: ParseError) => void>();

/**
 * The status for Node's HPE_HEADER_OVERFLOW: which line of the request's head
 * the parser was in. Node counts the request target with the header names and
 * values (not the method, the version, separators or line ends) and fails as
 * the count reaches maxHeaderSize (16 KiB: a target of 16,384 bytes fails
 * alone), with one code for all. Node keeps none of the head; the read it
 * failed in is the error's rawPacket, failing at bytesParsed:
 * - the line's start is in it (after a LF, or at the connection's first
 *   byte): a request line starts with its method and a space;
 * - otherwise the line began in an earlier read (a head that came in pieces)
 *   and its end tells: a request line ends with its version. Node reports
 *   every later read as the same error: they are watched for the end, a
 *   while (LINE_END_WAIT_MS).
 */
export function overflowStatus(
  error: ParseError,
  socket: Socket,
): OverflowStatus | Promise<OverflowStatus> {
  const { read, failedAt, lineStart } = parseFailure(error);
  // bytesRead counts what TLS read (encrypted): only a plain connection's first read is known so.
  const firstRead = !('encrypted' in socket) && socket.bytesRead === read.length;
  if (lineStart > 0 || firstRead) {
    const start = read.subarray(lineStart, lineStart + 32).toString('latin1');
    return REQUEST_LINE_START.test(start) ? 414 : 431;
  }
  return lineEndStatus(socket, read.subarray(failedAt));
}

/** Whether a parse error on `socket` is a later read awaited by overflowStatus (it is taken). */
export function tookLaterRead(error: ParseError, socket: Socket): boolean {
  const hear = awaitingLineEnd.get(socket);
  if (hear) hear(error);
  return hear !== undefined;
}

function lineEndStatus(socket: Socket, rest: Buffer): OverflowStatus | Promise<OverflowStatus> {
  // The line's last bytes so far, enough for its version and CR.
  let tail = '';
  const endIn = (read: Buffer): OverflowStatus | undefined => {
    const end = read.indexOf(LF);
    tail = (tail + read.subarray(0, end === -1 ? read.length : end).toString('latin1')).slice(-16);
    if (end === -1) return undefined;
    return REQUEST_LINE_END.test(tail) ? 414 : 431;
  };
  const known = endIn(rest);
  if (known !== undefined) return known;
  return new Promise((resolve) => {
    const decide = (status: OverflowStatus): void => {
      clearTimeout(timer);
      socket.off('close', unread);
      awaitingLineEnd.delete(socket);
      resolve(status);
    };
    const unread = (): void => decide(431);
    const timer = setTimeout(unread, LINE_END_WAIT_MS);
    socket.once('close', unread);
    awaitingLineEnd.set(socket, (error) => {
      // Another error (Node's request timeout) ends the wait.
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? endIn(parseFailure(error).read) : 431;
      if (status !== undefined) decide(status);
    });
  });
}
