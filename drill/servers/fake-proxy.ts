/**
 * A broken proxy that still looks alive to a TCP check: it accepts connections on the proxy port
 * and answers 200 to everything (CONNECT included) without forwarding anything. It retries the
 * bind while the real proxy is being killed, so the port is closed only for a moment.
 */
import { createServer, type Socket } from 'node:net';
import { FAKE_READY, FAKE_WAITING } from './protocol.js';

const RETRY_MS = 10;
const MAX_WAIT_MS = 5_000;

function answer(socket: Socket): void {
  let buffer = '';
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let end = buffer.indexOf('\r\n\r\n'); end >= 0; end = buffer.indexOf('\r\n\r\n')) {
      const head = buffer.slice(0, end);
      buffer = buffer.slice(end + 4);
      if (head.startsWith('CONNECT ')) socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      else socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    }
  });
}

function listen(port: number, started: number): void {
  const server = createServer(answer);
  server.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE' && Date.now() - started < MAX_WAIT_MS) {
      setTimeout(() => listen(port, started), RETRY_MS);
      return;
    }
    process.stderr.write(`fake proxy: ${error.message}\n`);
    process.exit(1);
  });
  server.listen(port, '0.0.0.0', () => process.stdout.write(`${FAKE_READY}\n`));
}

export function main(args: readonly string[]): Promise<void> {
  process.stdout.write(`${FAKE_WAITING}\n`);
  listen(Number(args[0] ?? 3128), Date.now());
  return Promise.resolve();
}
