/**
 * The "internet": an origin on ports 80 and 443 (plain HTTP on both; the drill's CONNECT tunnels
 * carry plain HTTP) that echoes the request's nonce, so a client can tell a real answer from a
 * fake one; and a TCP echo service for long-lived tunnels, which first says which address (which
 * proxy instance) the connection came from. Runs inside the internet namespace.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { ECHO_PORT, echoGreeting, HELD_PATH, ORIGIN_PORTS, ORIGIN_READY, originAnswer } from './protocol.js';

function serve(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    const nonce = url.searchParams.get('n') ?? '';
    const body = originAnswer(nonce);
    if (url.pathname === HELD_PATH) {
      // The held connections that must outlive a policy rollout: kept alive, framed by length.
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        connection: 'keep-alive',
      });
    } else {
      // Every other request a fresh flow. (Framed by length, a Connection: close answer to a client
      // that has gone crashes a proxy worker: undici 7's paused-parser assertion, nodejs/undici#5360.)
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    }
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

function serveEcho(): Promise<void> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.write(echoGreeting(socket.remoteAddress ?? '?'));
    socket.on('data', (data) => socket.write(data));
    socket.on('end', () => socket.end());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(ECHO_PORT, '0.0.0.0', () => resolve());
  });
}

export async function main(): Promise<void> {
  await Promise.all([...ORIGIN_PORTS.map(serve), serveEcho()]);
  process.stdout.write(`${ORIGIN_READY}\n`);
}
