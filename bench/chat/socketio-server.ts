/**
 * The reference of the chat benchmark: the same chat as MultiChat's `send`, written
 * the usual Socket.IO way, one of several processes sharing one Redis through
 * @socket.io/redis-adapter (pub/sub). Bench only; started by bench/chat.ts.
 *
 *   node dist/bench/chat/socketio-server.js --redis redis://127.0.0.1:6379/0 \
 *     --key bench.x.sio --sessions /tmp/…/sessions.json
 *
 * - WebSocket transport only (no long-polling), no compression.
 * - Authentication: the `sessionid` cookie of the handshake must be one of the
 *   keys in the sessions file (session key → username), read once at start: an
 *   in-memory check, where MultiChat's worker loads the session and the user from
 *   the database.
 * - `join` (ack'ed) joins a room; `send` to a joined room emits
 *   {room, message, username, msg_type: 0} to every member, the sender included
 *   (`io.to(room).emit`); a `send` to a room not joined gets a `chat_error`.
 *
 * Logs one JSON line {"msg": "socket.io listening", "port": N} once it listens.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createAdapter } from '@socket.io/redis-adapter';
import { parse as parseCookie } from 'cookie';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import type { ChatPayload } from './clients.js';

const { values } = parseArgs({
  options: {
    redis: { type: 'string' },
    key: { type: 'string' },
    sessions: { type: 'string' },
    port: { type: 'string', default: '0' },
  },
});
if (!values.redis || !values.key || !values.sessions)
  throw new Error('--redis, --key and --sessions are required');

const log = (msg: string, fields: Record<string, unknown> = {}): void =>
  console.log(JSON.stringify({ time: Date.now(), level: 30, msg, ...fields }));

const usernames = new Map(
  Object.entries(JSON.parse(readFileSync(values.sessions, 'utf8')) as Record<string, string>),
);

const pub = new Redis(values.redis);
const sub = pub.duplicate();
for (const client of [pub, sub]) {
  client.on('error', (error: Error) =>
    console.log(JSON.stringify({ level: 50, msg: 'redis error', err: error.message })),
  );
}

/** What clients may emit; checked at run time all the same (clients are untrusted). */
interface ClientEvents {
  join(room: unknown, ack: unknown): void;
  send(command: { room?: unknown; message?: unknown } | undefined): void;
}

interface ServerEvents {
  message(payload: ChatPayload): void;
  chat_error(code: string): void;
}

interface SocketData {
  username: string;
}

const httpServer = createServer();
const io = new Server<ClientEvents, ServerEvents, Record<string, never>, SocketData>(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  adapter: createAdapter(pub, sub, { key: values.key }),
});

io.use((socket, next) => {
  const header = socket.handshake.headers.cookie;
  const username = header ? usernames.get(parseCookie(header).sessionid ?? '') : undefined;
  if (username === undefined) return next(new Error('unauthorized'));
  socket.data.username = username;
  next();
});

/** Rooms are named after their id, as MultiChat's groups are. */
const roomName = (room: unknown): string | undefined =>
  typeof room === 'number' || typeof room === 'string' ? `room-${room}` : undefined;

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    const name = roomName(room);
    if (name === undefined) return socket.emit('chat_error', 'ROOM_INVALID');
    void socket.join(name);
    if (typeof ack === 'function') ack({ join: String(room) });
  });
  socket.on('send', (command) => {
    const name = roomName(command?.room);
    if (name === undefined || typeof command?.message !== 'string')
      return socket.emit('chat_error', 'INVALID_MESSAGE');
    if (!socket.rooms.has(name)) return socket.emit('chat_error', 'ROOM_ACCESS_DENIED');
    io.to(name).emit('message', {
      room: String(command.room),
      message: command.message,
      username: socket.data.username,
      msg_type: 0,
    });
  });
});

httpServer.listen(Number(values.port), '127.0.0.1', () => {
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  log('socket.io listening', { port, sessions: usernames.size });
});

const shutdown = (): void => {
  // io.close() closes every client and the HTTP server; then the Redis clients.
  void io.close().finally(() => {
    pub.disconnect();
    sub.disconnect();
    log('socket.io stopped');
    process.exit(0);
  });
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
