/**
 * Run by upstream-connect.test.ts inside its own namespaces (see isolated.ts). `he.test` has two
 * addresses in /etc/hosts; whichever the resolver lists first never answers a SYN (a listener
 * with a full accept queue), the other serves. Prints what the client got, as JSON.
 */
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import { dial, readResponse } from '../client.js';
import { startNonAcceptingListener, startProxy } from '../harness.js';
import { startTcpOrigin } from '../origins.js';

const connectMs = Number(process.argv[2]);
const [first, second] = (await lookup('he.test', { all: true, verbatim: true })).map(
  (entry) => entry.address,
);
const dead = await startNonAcceptingListener(first!);
// Fill its accept queue so that further SYNs are dropped.
const fillers = Array.from({ length: 4 }, () => connect(dead.port, first).on('error', () => undefined));
await new Promise((resolve) => setTimeout(resolve, 100));
const origin = await startTcpOrigin(
  (socket) => socket.on('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nalive')),
  { host: second!, port: dead.port },
);
const fleet = await startProxy({
  allow: ['he.test'],
  allowPorts: [dead.port],
  allowCidrs: ['127.0.0.0/8'],
  proxy: { workers: 1 },
  timeouts: { connectMs },
});

async function timed(request: string): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const socket = await dial(fleet.config.proxy.port);
  socket.write(request);
  const response = await readResponse(socket, connectMs + 5_000);
  let body = response.body;
  if (response.status === 200 && request.startsWith('CONNECT')) {
    socket.write('GET / HTTP/1.1\r\nHost: he.test\r\n\r\n');
    body = (await readResponse(socket)).body;
  }
  socket.destroy();
  return { status: response.status, body, ms: Math.round(performance.now() - started) };
}

const tunnel = await timed(`CONNECT he.test:${dead.port} HTTP/1.1\r\nHost: he.test\r\n\r\n`);
const forward = await timed(`GET http://he.test:${dead.port}/ HTTP/1.1\r\nHost: he.test\r\n\r\n`);
for (const filler of fillers) filler.destroy();
await Promise.all([fleet.stop(), origin.close()]);
dead.child.kill();
console.log(JSON.stringify({ addresses: [first, second], tunnel, forward }));
