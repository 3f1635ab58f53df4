/**
 * MultiChat's WebSocket protocol (multichat.md): the commands a client sends,
 * how they are validated, and the messages and errors it gets back.
 */
import { codePointLength } from '../../code-points.js';

export type ErrorCode =
  | 'USER_HAS_TO_LOGIN'
  | 'ROOM_INVALID'
  | 'ROOM_ACCESS_DENIED'
  | 'INVALID_MESSAGE'
  | 'MESSAGE_TOO_LONG'
  | 'RATE_LIMITED';

export const MESSAGE_TYPES = Object.freeze({
  message: 0,
  warning: 1,
  alert: 2,
  muted: 3,
  enter: 4,
  leave: 5,
});

export const MAX_MESSAGE_LENGTH = 4096;

export type Command =
  | { command: 'join'; room: number }
  | { command: 'leave'; room: number }
  | { command: 'send'; room: number; message: string };

/** A frame the client sent that is not a valid command; carries the error to answer with. */
export class InvalidCommand extends Error {
  constructor(readonly error: ErrorCode) {
    super(error);
    this.name = 'InvalidCommand';
  }
}

/** Parses one text frame; throws InvalidCommand with INVALID_MESSAGE or MESSAGE_TOO_LONG. */
export function parseCommand(text: string | undefined): Command {
  if (text === undefined) throw new InvalidCommand('INVALID_MESSAGE');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidCommand('INVALID_MESSAGE');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidCommand('INVALID_MESSAGE');
  const { command, room, message } = value as Record<string, unknown>;
  const roomId = parseRoomId(room);
  switch (command) {
    case 'join':
    case 'leave':
      return { command, room: roomId };
    case 'send':
      if (typeof message !== 'string' || message.trim() === '')
        throw new InvalidCommand('INVALID_MESSAGE');
      if (codePointLength(message) > MAX_MESSAGE_LENGTH)
        throw new InvalidCommand('MESSAGE_TOO_LONG');
      return { command, room: roomId, message };
    default:
      throw new InvalidCommand('INVALID_MESSAGE');
  }
}

/**
 * Room ids come as integers or as strings of ASCII digits with an optional sign
 * ("7"; "07" is 7, as Python's int() reads it). What else int() would take
 * (spaces around, "1_0", non-ASCII digits) and integers past 2^53 are the wrong
 * type here, INVALID_MESSAGE. Whether the room exists is the access check's
 * answer: 0 or -1 is well-formed and ROOM_INVALID.
 */
function parseRoomId(room: unknown): number {
  if (typeof room === 'number' && Number.isSafeInteger(room)) return room;
  if (typeof room === 'string' && /^[-+]?\d{1,16}$/.test(room)) {
    const id = Number(room);
    if (Number.isSafeInteger(id)) return id;
  }
  throw new InvalidCommand('INVALID_MESSAGE');
}

export function roomGroup(roomId: number): string {
  return `room-${roomId}`;
}

/**
 * What the sockets in a room get when it is deleted: the answer to a leave,
 * unasked, so that pages close its pane at once rather than find out at their
 * next send (multichat.md says only that a command to it is ROOM_INVALID).
 */
export function roomDeletedFrame(roomId: number): { text: string } {
  return { text: JSON.stringify({ leave: String(roomId) }) };
}

/**
 * The close code of a socket whose access changed under it: its user lost the
 * staff flag, or a room it is in became staff-only. Its memberships were
 * granted by checks that no longer hold; the page reconnects at once and joins
 * its rooms again, and each join is checked afresh (an application code).
 */
export const CLOSE_ACCESS_CHANGED = 4002;
