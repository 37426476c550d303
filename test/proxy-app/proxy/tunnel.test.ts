import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, tunnel } from '../client.js';
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
/** Sends BURSTY in writes of very different sizes, each when the last is taken. */
let burster: TcpOrigin;

/** Write sizes around the proxy's read buffers (16 and 64 KiB) and far from them. */
const BURST_SIZES = [1, 700, 16 * 1024, 16 * 1024 + 1, 64 * 1024, 200_000, 3, 64 * 1024 - 1];
const BURSTY = Buffer.from(Array.from({ length: 12 * 1024 * 1024 }, (_, i) => (i * 7 + (i >> 11)) % 256));

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
  burster = await startTcpOrigin((socket) => {
    let offset = 0;
    let turn = 0;
    const send = (): void => {
      while (offset < BURSTY.length) {
        const size = BURST_SIZES[turn++ % BURST_SIZES.length]!;
        const chunk = BURSTY.subarray(offset, offset + size);
        offset += chunk.length;
        if (offset === BURSTY.length) socket.end(chunk);
        else if (!socket.write(chunk)) return void socket.once('drain', send);
        // Every other write waits a turn of the event loop, so reads come in all sizes.
        if (turn % 2) return void setImmediate(send);
      }
    };
    send();
  });
  fleet = await startProxy({
    allow: ['localhost'],
    allowPorts: [hasher.port, talker.port, streamer.port, burster.port],
    allowCidrs: ['127.0.0.0/8'],
  });
});

const talkerReceived: string[] = [];

afterAll(async () => {
  await Promise.all([fleet?.stop(), hasher?.close(), talker?.close(), streamer?.close(), burster?.close()]);
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

  it('a client that reads slowly gets every byte in order, whatever the sizes the destination sends', async () => {
    // While the client does not read, the proxy must stop reading the destination, and start
    // again when the client catches up, losing and reordering nothing.
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${burster.port}`);
    const chunks: Buffer[] = [];
    let sinceBreak = 0;
    const body = new Promise<Buffer>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        sinceBreak += chunk.length;
        if (sinceBreak < 256 * 1024) return;
        sinceBreak = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 10);
      });
      socket.once('end', () => resolve(Buffer.concat(chunks)));
      socket.once('error', reject);
    });
    // Not reading at first: the kernel's buffers on both sides fill up before the client starts.
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.resume();
    const received = await body;
    socket.destroy();
    expect(received.length).toBe(BURSTY.length);
    expect(received.equals(BURSTY)).toBe(true);
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

  it('counts the bytes relayed and the tunnels in the metrics', async () => {
    const { port } = fleet.config.metrics;
    expect(await metricValue(port, 'egress_proxy_bytes_total{direction="down"}')).toBeGreaterThanOrEqual(
      32 * MiB + BURSTY.length,
    );
    expect(await metricValue(port, 'egress_proxy_bytes_total{direction="up"}')).toBeGreaterThanOrEqual(
      24 * MiB,
    );
    expect(
      await metricValue(port, 'egress_proxy_requests_total{kind="tunnel",decision="allowed",status="200"}'),
    ).toBeGreaterThanOrEqual(4);
  });
});
