/**
 * readConnectHead takes the common CONNECT away from Node's parser; it must never accept what
 * that parser refuses or reads differently. Checked case by case, then differentially: generated
 * heads go to a real Node HTTP server configured as the proxy's is, and every head the reader
 * accepts must reach that server as a CONNECT with the same target and the same tunnel bytes.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConnectHead } from '../../../proxy-app/src/proxy/connect-head.js';
import { dial } from '../client.js';

const MAX = 8 * 1024;
const head = (text: string): ReturnType<typeof readConnectHead> =>
  readConnectHead(Buffer.from(text, 'latin1'), MAX);

describe('readConnectHead', () => {
  it('reads a plain CONNECT: the target, and where the tunnel bytes start', () => {
    const text = 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: t/1\r\n\r\n';
    expect(head(`${text}\x16\x03\x01`)).toEqual({ target: 'example.com:443', end: text.length });
    expect(head('CONNECT [2001:db8::1]:443 HTTP/1.0\r\n\r\n')).toEqual({
      target: '[2001:db8::1]:443',
      end: 38,
    });
    expect(head('CONNECT a:1 HTTP/1.1\r\nX-Empty:\r\nX-Tab:\tv \t\r\n\r\n')?.target).toBe('a:1');
  });

  it.each([
    ['another method', 'GET http://a/ HTTP/1.1\r\n\r\n'],
    ['a lowercase method', 'connect a:1 HTTP/1.1\r\n\r\n'],
    ['an incomplete head', 'CONNECT a:1 HTTP/1.1\r\nHost: a\r\n'],
    ['two spaces', 'CONNECT  a:1 HTTP/1.1\r\n\r\n'],
    ['no target', 'CONNECT HTTP/1.1\r\n\r\n'],
    ['a target with a path', 'CONNECT a:1/x HTTP/1.1\r\n\r\n'],
    ['a target with userinfo', 'CONNECT u@a:1 HTTP/1.1\r\n\r\n'],
    ['HTTP/2.0', 'CONNECT a:1 HTTP/2.0\r\n\r\n'],
    ['no version', 'CONNECT a:1\r\n\r\n'],
    ['a bare LF ending the request line', 'CONNECT a:1 HTTP/1.1\n\r\n\r\n'],
    ['a bare LF in a header', 'CONNECT a:1 HTTP/1.1\r\nA: b\nC: d\r\n\r\n'],
    ['a bare CR in a value', 'CONNECT a:1 HTTP/1.1\r\nA: b\rc\r\n\r\n'],
    ['obs-fold', 'CONNECT a:1 HTTP/1.1\r\nA: b\r\n c\r\n\r\n'],
    ['a space before the colon', 'CONNECT a:1 HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['an empty name', 'CONNECT a:1 HTTP/1.1\r\n: a\r\n\r\n'],
    ['a NUL in a value', 'CONNECT a:1 HTTP/1.1\r\nA: b\0\r\n\r\n'],
    ['obs-text in a value', 'CONNECT a:1 HTTP/1.1\r\nA: caf\xe9\r\n\r\n'],
    ['Content-Length', 'CONNECT a:1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n'],
    ['Transfer-Encoding', 'CONNECT a:1 HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n'],
    ['a leading empty line', '\r\nCONNECT a:1 HTTP/1.1\r\n\r\n'],
  ])('leaves %s to Node', (_, text) => {
    expect(head(text)).toBeNull();
  });

  it('leaves a head over maxHeaderBytes to Node, and takes one just within it', () => {
    const within = `CONNECT a:1 HTTP/1.1\r\nX: ${'v'.repeat(MAX - 29)}\r\n\r\n`;
    expect(within.length).toBe(MAX);
    expect(head(within)).not.toBeNull();
    expect(head(within.replace('X:', 'XY:'))).toBeNull();
  });
});

describe('readConnectHead against Node parsing the same bytes', () => {
  const seen = new Map<string, { target: string; tunnel: string }>();
  let port: number;
  const server = createServer({ maxHeaderSize: MAX, requireHostHeader: false });

  beforeAll(async () => {
    server.on('connect', (req: IncomingMessage, socket, tunnelHead: Buffer) => {
      socket.on('error', () => undefined);
      // The test's id, sent first after the head, tells which head this was.
      const [id, ...rest] = tunnelHead.toString('latin1').split('|');
      seen.set(id!, { target: req.url ?? '', tunnel: rest.join('|') });
      socket.destroy();
    });
    server.on('clientError', (_, socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Seeded heads around the accepted grammar: mutations of a plain CONNECT, one byte at a time. */
  function* heads(count: number): Generator<string> {
    let state = 7;
    const next = (n: number): number => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return (state >>> 8) % n;
    };
    const base = 'CONNECT host.example:443 HTTP/1.1\r\nHost: host.example:443\r\nX-A: b c\r\n\r\n';
    const odd = ['\r', '\n', ' ', '\t', '\0', '\x7f', '\xe9', ':', '/', '@', '"', '(', 'a', '0', '\x01'];
    for (let i = 0; i < count; i++) {
      let text = base;
      for (let edits = 1 + next(2); edits > 0; edits--) {
        const at = next(text.length - 4);
        const byte = odd[next(odd.length)]!;
        text = next(2)
          ? text.slice(0, at) + byte + text.slice(at)
          : text.slice(0, at) + byte + text.slice(at + 1);
      }
      yield text;
    }
  }

  it('every head the reader accepts, Node reads as the same CONNECT with the same tunnel bytes', async () => {
    let accepted = 0;
    let i = 0;
    for (const text of heads(600)) {
      const id = `h${i++}`;
      const read = readConnectHead(Buffer.from(`${text}${id}|tail`, 'latin1'), MAX);
      if (read === null) continue;
      accepted++;
      const socket = await dial(port);
      socket.on('error', () => undefined);
      socket.write(Buffer.from(`${text}${id}|tail`, 'latin1'));
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 2_000);
        const done = (): void => resolve(clearTimeout(timer) === undefined);
        socket.once('end', done).once('close', done).resume();
      });
      socket.destroy();
      expect({ closed, node: seen.get(id) }, JSON.stringify(text)).toEqual({
        closed: true,
        node: { target: read.target, tunnel: 'tail' },
      });
    }
    // The mutations must exercise both sides: some accepted, most not.
    expect(accepted).toBeGreaterThan(20);
    expect(accepted).toBeLessThan(600);
  });
});
