import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, exchange, readResponse } from '../client.js';
import { startProxy, type Fleet } from '../harness.js';
import { startHttpOrigin, type HttpOrigin } from '../origins.js';

let origin: HttpOrigin;
let fleet: Fleet;

beforeAll(async () => {
  origin = await startHttpOrigin();
  fleet = await startProxy({
    allow: ['localhost'],
    allowPorts: [origin.port],
    allowCidrs: ['127.0.0.0/8'],
    limits: { maxHeaderBytes: 4096 },
    timeouts: { headersMs: 1_000 },
  });
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), origin?.close()]);
});

const target = (): string => `http://localhost:${origin.port}/smuggle`;

describe('request smuggling: ambiguous framing is refused, never forwarded', () => {
  const cases: [string, (url: string) => string][] = [
    [
      'Content-Length with Transfer-Encoding',
      (url) =>
        `POST ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'differing duplicate Content-Length',
      (url) =>
        `POST ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
    ],
    [
      'identical duplicate Content-Length',
      (url) =>
        `POST ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`,
    ],
    [
      'Content-Length with a sign',
      (url) => `POST ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Length: +4\r\n\r\nabcd`,
    ],
    [
      'obs-fold header continuation',
      (url) => `GET ${url} HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n`,
    ],
    ['bare LF line endings', (url) => `GET ${url} HTTP/1.1\nHost: localhost\n\n`],
    ['bare LF inside the header block', (url) => `GET ${url} HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n`],
    [
      'Transfer-Encoding other than chunked',
      (url) => `POST ${url} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'chunked listed twice',
      (url) =>
        `POST ${url} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'whitespace before the colon',
      (url) => `POST ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Length : 4\r\n\r\nabcd`,
    ],
    [
      'an invalid chunk size',
      (url) =>
        `POST ${url} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n`,
    ],
    [
      'CONNECT with a body',
      () => `CONNECT localhost:${origin.port} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nabcd`,
    ],
  ];

  it.each(cases)('400 for %s', async (_name, build) => {
    const before = origin.seen.length;
    const response = await exchange(fleet.config.proxy.port, build(target()));
    expect(response.status).toBe(400);
    expect(response.headers['x-egress-proxy-reason']).toMatch(/^(ambiguous_framing|bad_request)$/);
    expect(origin.seen.length).toBe(before);
  });

  it('no worker crashed on any of them', () => {
    expect(fleet.proxy.logs.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(fleet.proxy.stderr()).toBe('');
  });

  it('still forwards a well-framed chunked upload', async () => {
    const response = await exchange(
      fleet.config.proxy.port,
      `POST http://localhost:${origin.port}/sha256 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`,
    );
    expect(response.status).toBe(200);
    expect(response.body).toBe('88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589');
  });
});

describe('limits', () => {
  it('431 when the header block is over maxHeaderBytes', async () => {
    const response = await exchange(
      fleet.config.proxy.port,
      `GET ${target()} HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(5_000)}\r\n\r\n`,
    );
    expect(response.status).toBe(431);
    expect(response.headers['x-egress-proxy-reason']).toBe('headers_too_large');
  });

  it('a slowloris client gets 408 after headersMs while others are served meanwhile', async () => {
    const slow = await dial(fleet.config.proxy.port);
    slow.write(`GET ${target()} HTTP/1.1\r\nHost: localhost\r\n`);
    const drip = setInterval(() => slow.write('X-Drip: 1\r\n'), 100);
    const slowAnswer = readResponse(slow, 5_000);
    const served: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await exchange(
        fleet.config.proxy.port,
        `GET http://localhost:${origin.port}/fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      served.push(response.status);
    }
    const answer = await slowAnswer.finally(() => clearInterval(drip));
    slow.destroy();
    expect(served).toEqual([200, 200, 200, 200, 200]);
    expect(answer.status).toBe(408);
    expect(answer.headers['x-egress-proxy-reason']).toBe('headers_timeout');
  });
});
