import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tunnel } from '../client.js';
import { startProxy, type Fleet } from '../harness.js';
import { sha256OfPattern, startTcpOrigin, streamPattern, type TcpOrigin } from '../origins.js';

const MiB = 1024 * 1024;
let fleet: Fleet;
/** Reads everything until the client half-closes, then answers with its hash and closes. */
let hasher: TcpOrigin;
/** Sends a greeting and closes its sending side at once, then reports what it read when the client closes. */
let talker: TcpOrigin;
/** Streams 32 MiB of pattern bytes on connect. */
let streamer: TcpOrigin;

beforeAll(async () => {
  hasher = await startTcpOrigin((socket) => {
    const hash = createHash('sha256');
    let size = 0;
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
    });
    socket.on('end', () => socket.end(`${size} ${hash.digest('hex')}`));
  });
  talker = await startTcpOrigin((socket) => {
    socket.end('hello, then FIN');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('end', () => talkerReceived.push(received));
  });
  streamer = await startTcpOrigin((socket) =>
    streamPattern(
      32 * MiB,
      (chunk, done) => (done ? socket.end(chunk) : socket.write(chunk)),
      (cb) => socket.once('drain', cb),
    ),
  );
  fleet = await startProxy({
    allow: ['localhost'],
    allowPorts: [hasher.port, talker.port, streamer.port],
    allowCidrs: ['127.0.0.0/8'],
  });
});

const talkerReceived: string[] = [];

afterAll(async () => {
  await Promise.all([fleet?.stop(), hasher?.close(), talker?.close(), streamer?.close()]);
});

function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
  });
}

describe('CONNECT tunnels', () => {
  it('client half-close: the client ends its upload and still receives the whole answer', async () => {
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${hasher.port}`);
    const answer = readAll(socket);
    const size = 24 * MiB;
    streamPattern(
      size,
      (chunk, done) => (done ? socket.end(chunk) : socket.write(chunk)),
      (cb) => socket.once('drain', cb),
    );
    expect((await answer).toString()).toBe(`${size} ${sha256OfPattern(size)}`);
  });

  it('upstream half-close: the destination ends first and the client can still send', async () => {
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${talker.port}`);
    const greeting = await readAll(socket);
    expect(greeting.toString()).toBe('hello, then FIN');
    // Our reading side has ended; the writing side must still reach the destination.
    socket.end('late words');
    await new Promise((resolve) => socket.once('close', resolve));
    await expect.poll(() => talkerReceived.at(-1)).toBe('late words');
  });

  it('streams a large download intact', async () => {
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${streamer.port}`);
    const body = await readAll(socket);
    socket.destroy();
    expect(body.length).toBe(32 * MiB);
    expect(createHash('sha256').update(body).digest('hex')).toBe(sha256OfPattern(32 * MiB));
  });

  it('logs one access line per tunnel with its byte counts', async () => {
    const line = await fleet.proxy.waitForLog(
      (entry) => entry.msg === 'tunnel' && entry.port === streamer.port,
    );
    expect(line).toMatchObject({
      client: '127.0.0.1',
      method: 'CONNECT',
      host: 'localhost',
      decision: 'allowed',
      status: 200,
    });
    expect(line.bytesDown).toBe(32 * MiB);
    expect(typeof line.durationMs).toBe('number');
  });
});
