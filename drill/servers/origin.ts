/**
 * The "internet": an origin on ports 80 and 443 (plain HTTP on both; the drill's CONNECT tunnels
 * carry plain HTTP) that echoes the request's nonce, so a client can tell a real answer from a
 * fake one. Runs inside the internet namespace.
 */
import { createServer, type Server } from 'node:http';
import { HELD_PATH, ORIGIN_PORTS, ORIGIN_READY, originAnswer } from './protocol.js';

function serve(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    const nonce = url.searchParams.get('n') ?? '';
    // Every request a fresh flow, except the held connections that must outlive a policy rollout.
    const connection = url.pathname === HELD_PATH ? 'keep-alive' : 'close';
    const body = originAnswer(nonce);
    res
      .writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), connection })
      .end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

export async function main(): Promise<void> {
  await Promise.all(ORIGIN_PORTS.map(serve));
  process.stdout.write(`${ORIGIN_READY}\n`);
}
