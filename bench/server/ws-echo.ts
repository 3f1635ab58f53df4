/**
 * Bench-only server: the ceiling, a bare `ws` echo server (same Node, same ws
 * package, compression off as in Thyme) with nothing between the socket and the
 * echo. Logs one JSON line {"msg": "ws echo listening", "port": …}.
 *
 *   node dist/bench/server/ws-echo.js [--port 0]
 */
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(values.port),
  perMessageDeflate: false,
});
server.on('connection', (ws) => {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
server.on('listening', () => {
  const address = server.address();
  const port = typeof address === 'string' || address === null ? address : address.port;
  console.log(JSON.stringify({ msg: 'ws echo listening', port }));
});
const stop = (): void => {
  for (const ws of server.clients) ws.terminate();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
