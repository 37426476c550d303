/**
 * Throws generated request heads (seeded, so a failure can be replayed) at the proxy and the
 * sidecar, each on its own connection, and checks that every one is answered with a status the
 * client can act on, or closed, and that neither process nor any worker went down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, exchange, readResponse } from './client.js';
import { run, startProxy, type Fleet, type Running } from './harness.js';
import { startHttpOrigin, type HttpOrigin } from './origins.js';

const HEADS = 2_000;
const PARALLEL = 8;

let origin: HttpOrigin;
let fleet: Fleet;
let sidecar: Running;

beforeAll(async () => {
  origin = await startHttpOrigin();
  fleet = await startProxy({
    allow: ['localhost', 'example.com'],
    allowPorts: [origin.port],
    allowCidrs: ['127.0.0.0/8'],
    timeouts: { headersMs: 2_000 },
  });
  sidecar = run('sidecar', fleet.configFile);
  await sidecar.waitForLog((line) => line.msg === 'sidecar listening');
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), sidecar?.stop(), origin?.close()]);
});

/** mulberry32: a small seeded generator, so the same seed gives the same heads. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed: number, targets: readonly string[]): () => Buffer {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const bytes = (max: number, alphabet?: string): string =>
    Array.from({ length: Math.floor(next() * max) }, () =>
      alphabet ? pick([...alphabet]) : String.fromCharCode(Math.floor(next() * 256)),
    ).join('');
  const token = (): string =>
    bytes(10, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.!#$%&*+^`|~0123456789');
  const methods = [
    'GET',
    'POST',
    'PUT',
    'HEAD',
    'DELETE',
    'OPTIONS',
    'CONNECT',
    'PATCH',
    'TRACE',
    'PRI',
    'get',
    'G ET',
  ];
  const versions = [
    'HTTP/1.1',
    'HTTP/1.1',
    'HTTP/1.1',
    'HTTP/1.0',
    'HTTP/2.0',
    'http/1.1',
    'HTTP/1.1x',
    '',
    'HTTP/9.9',
  ];
  const headers: (() => string)[] = [
    () => `Host: ${pick(['localhost', 'example.com', '', '[', bytes(20)])}`,
    () =>
      `Content-Length: ${pick(['0', '3', '12', '-1', '1e3', 'abc', '99999999999999999999', ' 4', '3, 3'])}`,
    () => `Transfer-Encoding: ${pick(['chunked', 'gzip', 'chunked, chunked', '', 'identity', 'CHUNKED'])}`,
    () => `Connection: ${pick(['close', 'Upgrade', 'keep-alive, x-hop', 'TE', ''])}`,
    () => `Upgrade: ${pick(['websocket', 'h2c', bytes(10)])}`,
    () => `Expect: ${pick(['100-continue', '100-continue', 'foo', ''])}`,
    () => `Proxy-Authorization: Basic ${bytes(20, 'abcdef0123456789=')}`,
    () => `${token()}: ${bytes(30)}`,
    () => `${bytes(12)}: ${bytes(12)}`,
    () => `X-Folded: a\r\n ${bytes(8)}`,
    () => bytes(20),
    () => `X-Long: ${'a'.repeat(Math.floor(next() * 20_000))}`,
  ];
  return () => {
    const method = next() < 0.1 ? token() : pick(methods);
    const target = next() < 0.15 ? bytes(60) : pick(targets);
    const lines = [`${method} ${target} ${pick(versions)}`];
    for (let i = Math.floor(next() * 6); i > 0; i--) lines.push(pick(headers)());
    const eol = next() < 0.1 ? '\n' : '\r\n';
    const end = next() < 0.1 ? '' : eol;
    return Buffer.from(lines.join(eol) + eol + end + bytes(next() < 0.3 ? 40 : 0), 'latin1');
  };
}

/** Sends one head, half-closes, and returns the status line of the first answer, or 'closed'. */
async function throwHead(port: number, head: Buffer): Promise<string> {
  const socket = await dial(port);
  socket.on('error', () => undefined);
  let raw = '';
  socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.end(head);
  const timer = setTimeout(() => socket.destroy(new Error('no answer')), 15_000);
  await closed;
  clearTimeout(timer);
  if (raw === '') return 'closed';
  return raw.slice(0, raw.indexOf('\r\n'));
}

async function fuzz(port: number, seed: number, targets: readonly string[]): Promise<Map<string, string>> {
  const nextHead = generator(seed, targets);
  const heads = Array.from({ length: HEADS }, nextHead);
  const outcomes = new Map<string, string>();
  let index = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (index < heads.length) {
        const head = heads[index++]!;
        outcomes.set(head.toString('latin1'), await throwHead(port, head));
      }
    }),
  );
  return outcomes;
}

/** Answers a client can act on: a 1xx to 4xx status line, or a closed connection. */
function unacceptable(outcomes: Map<string, string>): [string, string][] {
  return [...outcomes].filter(
    ([, outcome]) => outcome !== 'closed' && !/^HTTP\/1\.[01] [1-4]\d\d\b/.test(outcome),
  );
}

describe('malformed and unusual request heads', () => {
  it('the proxy answers every one with 1xx-4xx or closes, and no worker goes down', async () => {
    const targets = [
      'http://[',
      'http://',
      'http://[::1',
      `http://localhost:${origin.port}/a/../b?x=%7e`,
      `http://localhost:${origin.port}`,
      `localhost:${origin.port}`,
      `127.0.0.1:${origin.port}`,
      'example.com:443',
      'http://example.org/',
      'https://localhost/',
      '/',
      '*',
      '//x',
      'http://a@localhost/',
      'http://%zz/',
      'http://localhost:99999/',
      '[::1]:443',
      ':',
      'localhost:',
      `http://localhost:${origin.port}/${'a'.repeat(9_000)}`,
    ];
    const outcomes = await fuzz(fleet.config.proxy.port, 0xe9e55, targets);
    expect(unacceptable(outcomes)).toEqual([]);
    expect(fleet.proxy.child.exitCode).toBeNull();
    expect(fleet.proxy.logs.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(fleet.proxy.stderr()).toBe('');
    const socket = await dial(fleet.config.proxy.port);
    socket.write(`GET http://localhost:${origin.port}/after HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expect((await readResponse(socket)).body).toBe('GET /after');
    socket.destroy();
  }, 180_000);

  it('the sidecar answers every one with 1xx-4xx or closes, and stays up', async () => {
    const targets = [
      'http://[',
      'http://[::1',
      '/target?nonce=00ff',
      '/target?nonce=%zz',
      '/livez',
      '/drain',
      '/nope',
      'http://x/livez',
      '//livez',
      '*',
      'localhost:8081',
      '/%',
      '?',
    ];
    const outcomes = await fuzz(fleet.config.health.port, 0x51dec4, targets);
    expect(unacceptable(outcomes)).toEqual([]);
    expect(sidecar.child.exitCode).toBeNull();
    expect(sidecar.stderr()).toBe('');
    const livez = await exchange(
      fleet.config.health.port,
      'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(livez.status).toBe(200);
  }, 180_000);
});
