import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type NetConnectOpts, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamReader } from '../../../proxy-app/src/proxy/upstream-reader.js';

/** Read sizes as the kernel hands them out: tiny, partial, and exactly the buffer's size. */
const SIZES = [1, 700, -1, 3, 5_000, -1, -1, 16 * 1024 - 1, 64, -1] as const;
const LIMIT = 64 * 1024 * 1024;

let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A loopback connection whose far end reads nothing until `drain()`, then everything to the end. */
async function stalledPair(
  writableHighWaterMark: number,
): Promise<{ client: Socket; drain(): Promise<Buffer> }> {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer((socket) => {
      socket.pause();
      resolve(socket);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  // net.Socket passes stream options on to Duplex; @types/node does not list them.
  const options = { port: (server!.address() as AddressInfo).port, host: '127.0.0.1', writableHighWaterMark };
  const client = connect(options as NetConnectOpts);
  await once(client, 'connect');
  const far = await accepted;
  sockets.push(client, far);
  return {
    client,
    drain: () =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        far.on('data', (chunk: Buffer) => chunks.push(chunk));
        far.once('end', () => resolve(Buffer.concat(chunks)));
        far.once('error', reject);
        far.resume();
      }),
  };
}

/**
 * Plays the kernel's part: each "read" fills the buffer the reader offers next and hands it over
 * as Node does (the callback with the upstream socket as `this`, then the next buffer asked for);
 * stops when the reader asks to pause. Returns every byte sent, in order.
 */
function feed(reader: UpstreamReader, upstream: Socket, client: Socket): Buffer {
  const { buffer: nextBuffer, callback } = reader.onread;
  let buffer = (nextBuffer as () => Buffer)();
  const sent: Buffer[] = [];
  let total = 0;
  for (let turn = 0; total < LIMIT; turn++) {
    const wanted = SIZES[turn % SIZES.length]!;
    const length = wanted === -1 ? buffer.length : Math.min(wanted, buffer.length);
    for (let i = 0; i < length; i++) buffer[i] = (total + i) % 253;
    sent.push(Buffer.from(buffer.subarray(0, length)));
    total += length;
    const flowing = callback.call(upstream, length, buffer);
    buffer = (nextBuffer as () => Buffer)();
    if (!flowing) break;
  }
  expect(client.writableLength).toBeGreaterThan(0);
  return Buffer.concat(sent);
}

describe('UpstreamReader', () => {
  // While a write to the client is pending, it points into the buffer the bytes were read into;
  // the reader must not offer that memory for the next read until the write is done. With the
  // client's default highWaterMark a full buffer's write already asks the reader to pause; a
  // large one lets reads go on over pending writes, which is what this checks.
  it('never reuses memory a pending write still points into', async () => {
    const { client, drain } = await stalledPair(4 * 1024 * 1024);
    const reader = new UpstreamReader();
    // Stands in for the upstream socket: the reader finds itself through it, nothing is read from it.
    const upstream = new Socket();
    reader.relayTo(upstream, client);
    const sent = feed(reader, upstream, client);
    client.end();
    const received = await drain();
    expect(received.length).toBe(sent.length);
    expect(received.equals(sent)).toBe(true);
  });
});
