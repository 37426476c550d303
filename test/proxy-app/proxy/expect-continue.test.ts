import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, readHead, readResponse, readUntilEnd } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { listenOnLoopback, startTcpOrigin, type TcpOrigin } from '../origins.js';

/** `/upload` answers 100 Continue (Node's default) and hashes the body; `/refuse` answers 401 at once. */
let origin: Server;
let originPort: number;
const bodiesSeen: Record<string, number> = {};
/** Sends an unsolicited 100 Continue before every final answer. */
let eager: TcpOrigin;
/** Sends 103 Early Hints and 102 Processing before every final answer. */
let hinting: TcpOrigin;
let fleet: Fleet;

beforeAll(async () => {
  origin = createServer((req, res) => {
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      bodiesSeen[req.url!] = size;
      res.end(hash.digest('hex'));
    });
  });
  origin.on('checkContinue', (req, res) => {
    if (req.url === '/refuse') {
      bodiesSeen[req.url] = 0;
      req.on('data', (chunk: Buffer) => (bodiesSeen[req.url!]! += chunk.length));
      res.writeHead(401, { 'content-length': '6' }).end('denied');
      return;
    }
    res.writeContinue();
    origin.emit('request', req, res);
  });
  originPort = await listenOnLoopback(origin);
  eager = await startTcpOrigin((socket) =>
    socket.once('data', () =>
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
    ),
  );
  hinting = await startTcpOrigin((socket) =>
    socket.once('data', () =>
      socket.write(
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n' +
          'HTTP/1.1 102 Processing\r\n\r\n' +
          'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok',
      ),
    ),
  );
  fleet = await startProxy({
    ...loopbackInternet(originPort, eager.port, hinting.port),
  });
});

afterAll(async () => {
  await Promise.all([
    fleet?.stop(),
    eager?.close(),
    hinting?.close(),
    new Promise((resolve) => origin?.close(resolve)),
  ]);
});

function postHead(target: string, length: number): string {
  return `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
}

async function sendHead(target: string, length: number): Promise<Socket> {
  const socket = await dial(fleet.config.proxy.port);
  socket.write(postHead(target, length));
  return socket;
}

describe('Expect: 100-continue', () => {
  it('a denied destination gets its 403 without a 100 Continue first, and the connection closes', async () => {
    const socket = await sendHead('http://denied.example/upload', 5);
    const head = await readHead(socket);
    expect(head.status).toBe(403);
    expect(head.raw).toMatch(/\r\nconnection: close\r\n/i);
    await readUntilEnd(socket);
    socket.destroy();
  });

  it("relays the origin's 100 Continue; the body then flows and the origin answers", async () => {
    const socket = await sendHead(`http://localhost:${originPort}/upload`, 5);
    expect((await readHead(socket)).status).toBe(100);
    socket.write('hello');
    const response = await readResponse(socket);
    socket.destroy();
    expect(response.status).toBe(200);
    expect(response.body).toBe(createHash('sha256').update('hello').digest('hex'));
    expect(bodiesSeen['/upload']).toBe(5);
  });

  it('an origin that answers at once: the client gets that answer, never a 100, and uploads nothing', async () => {
    const socket = await sendHead(`http://localhost:${originPort}/refuse`, 1_000_000);
    const head = await readHead(socket);
    expect(head.status).toBe(401);
    expect(head.raw).toMatch(/\r\nconnection: close\r\n/i);
    await readUntilEnd(socket);
    socket.destroy();
    expect(bodiesSeen['/refuse']).toBe(0);
  });
});

describe('informational answers from an origin', () => {
  it('an unsolicited 100 Continue is not an error: the client gets the final answer', async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(`GET http://localhost:${eager.port}/ HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const response = await readResponse(socket);
    socket.destroy();
    expect(response.status).toBe(200);
    expect(response.body).toBe('ok');
  });

  it("relays an origin's 103 Early Hints before the final answer, and drops 102", async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(
      `GET http://localhost:${hinting.port}/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
    );
    const text = await readUntilEnd(socket);
    const hints = text.slice(0, text.indexOf('\r\n\r\n'));
    expect(hints).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n/);
    expect(hints).toMatch(/\r\nlink: <\/style\.css>; rel=preload(\r\n|$)/i);
    expect(hints).not.toMatch(/x-hop/i);
    expect(text).not.toContain(' 102 ');
    expect(text).toMatch(/\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  });

  it('sends no 1xx to an HTTP/1.0 client (RFC 9110 §15.2)', async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(`GET http://localhost:${hinting.port}/ HTTP/1.0\r\nHost: localhost\r\n\r\n`);
    const text = await readUntilEnd(socket);
    expect(text).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(text.endsWith('\r\n\r\nok')).toBe(true);
  });
});
