import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { dial, readResponse } from '../client.js';
import { startProxy, type Fleet } from '../harness.js';
import { sha256OfPattern, startHttpOrigin, streamPattern, type HttpOrigin } from '../origins.js';

const MiB = 1024 * 1024;
let origin: HttpOrigin;
let fleet: Fleet;

beforeAll(async () => {
  origin = await startHttpOrigin();
  fleet = await startProxy({ allow: ['localhost'], allowPorts: [origin.port], allowCidrs: ['127.0.0.0/8'] });
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), origin?.close()]);
});

describe('absolute-form forwarding', () => {
  it('streams a large upload and returns the checksum the destination computed', async () => {
    const size = 24 * MiB;
    const socket = await dial(fleet.config.proxy.port);
    socket.write(
      `POST http://localhost:${origin.port}/sha256 HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
    );
    const answer = readResponse(socket, 20_000);
    streamPattern(
      size,
      (chunk, done) => (done ? socket.write(chunk) : socket.write(chunk)),
      (cb) => socket.once('drain', cb),
    );
    const response = await answer;
    socket.destroy();
    expect(response.status).toBe(200);
    expect(response.body).toBe(sha256OfPattern(size));
  });

  it('streams a large download intact', async () => {
    const size = 24 * MiB;
    const socket = await dial(fleet.config.proxy.port);
    socket.write(
      `GET http://localhost:${origin.port}/bytes/${size} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
    );
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => socket.once('end', resolve));
    const raw = Buffer.concat(chunks);
    const headEnd = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, headEnd).toString();
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    const expected = /x-sha256: ([0-9a-f]+)/i.exec(head)![1];
    const body = decodeChunkedBuffer(raw.subarray(headEnd + 4), /transfer-encoding: chunked/i.test(head));
    expect(body.length).toBe(size);
    expect(createHash('sha256').update(body).digest('hex')).toBe(expected);
  });

  it('keeps the client connection alive across requests', async () => {
    const socket = await dial(fleet.config.proxy.port);
    const statuses: string[] = [];
    for (const path of ['/one', '/two', '/three']) {
      socket.write(`GET http://localhost:${origin.port}${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      const response = await readResponse(socket);
      statuses.push(`${response.status} ${response.body}`);
    }
    socket.destroy();
    expect(statuses).toEqual(['200 GET /one', '200 GET /two', '200 GET /three']);
  });

  it('strips hop-by-hop headers both ways and keeps end-to-end ones', async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(
      `GET http://localhost:${origin.port}/headers HTTP/1.1\r\nHost: wrong.example\r\nProxy-Authorization: Basic c2VjcmV0\r\n` +
        `Proxy-Connection: keep-alive\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nTE: trailers\r\nX-End: kept\r\n\r\n`,
    );
    const response = await readResponse(socket);
    socket.destroy();
    const seen = origin.seen.find((entry) => entry.url === '/headers')!;
    expect(seen.headers['x-end']).toBe('kept');
    expect(seen.headers.host).toBe(`localhost:${origin.port}`);
    for (const name of ['proxy-authorization', 'proxy-connection', 'x-hop', 'te'])
      expect(seen.headers[name]).toBeUndefined();
    expect(response.headers['x-private-hop']).toBeUndefined();
    expect(response.headers['keep-alive']).not.toBe('timeout=5');
    expect(response.headers['content-type']).toBe('text/plain');
  });

  it.each([
    ['/a/../b/%2e%2e/c\\d//e;p?x=%7e&y=a+b&&z=%2F&%zz', '/a/../b/%2e%2e/c\\d//e;p?x=%7e&y=a+b&&z=%2F&%zz'],
    ['?only=query', '/?only=query'],
    ['', '/'],
  ])('forwards the path and query %j byte for byte', async (suffix, seen) => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(`GET http://localhost:${origin.port}${suffix} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const response = await readResponse(socket);
    socket.destroy();
    expect(response.body).toBe(`GET ${seen}`);
  });

  it('forwards to the default port 80 when the URL names none', async (test) => {
    // Port 80 needs root; 127.0.0.80 keeps clear of anything on 127.0.0.1:80.
    const server = createServer((req, res) => res.end(`port 80 saw ${req.url}`));
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(80, '127.0.0.80', () => resolve(true));
    });
    if (!bound && !process.env.CI) test.skip('cannot listen on port 80 here (needs root)');
    expect(bound).toBe(true);
    const fleet80 = await startProxy({ allow: ['localhost'], allowPorts: [80], allowCidrs: ['127.0.0.0/8'] });
    try {
      const socket = await dial(fleet80.config.proxy.port);
      socket.write('GET http://127.0.0.80/default HTTP/1.1\r\nHost: 127.0.0.80\r\nConnection: close\r\n\r\n');
      const response = await readResponse(socket);
      socket.destroy();
      expect(response.status).toBe(200);
      expect(response.body).toBe('port 80 saw /default');
    } finally {
      await fleet80.stop();
      server.close();
    }
  });

  it('works for an ordinary HTTP client configured with the proxy', async () => {
    const agent = new ProxyAgent({ uri: fleet.proxyUrl, proxyTunnel: false });
    const { statusCode, body } = await request(`http://localhost:${origin.port}/client`, {
      dispatcher: agent,
    });
    expect(statusCode).toBe(200);
    expect(await body.text()).toBe('GET /client');
    await agent.close();
  });
});

function decodeChunkedBuffer(body: Buffer, chunked: boolean): Buffer {
  if (!chunked) return body;
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', offset);
    const size = parseInt(body.subarray(offset, lineEnd).toString(), 16);
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}
