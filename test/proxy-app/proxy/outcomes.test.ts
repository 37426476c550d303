import type { ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, exchange, metricValue, readHead, readUntilEnd, type RawResponse } from '../client.js';
import { freePort } from '../../support/free-port.js';
import { startNonAcceptingListener, startProxy, type Fleet } from '../harness.js';
import { startTcpOrigin, type TcpOrigin } from '../origins.js';

/** Sends a response head, then a chunk every 50 ms for as long as the client stays. */
let trickle: TcpOrigin;
/** Sends half of a Content-Length body, then closes. */
let truncating: TcpOrigin;
let fleet: Fleet;
let closedPort: number;
let stalledPort: number;
let stalled: ChildProcess;

beforeAll(async () => {
  trickle = await startTcpOrigin((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const timer = setInterval(() => socket.write('5\r\nchunk\r\n'), 50);
      socket.once('close', () => clearInterval(timer));
    });
  });
  truncating = await startTcpOrigin((socket) =>
    socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf!')),
  );
  closedPort = await freePort();
  ({ child: stalled, port: stalledPort } = await startNonAcceptingListener());
  fleet = await startProxy({
    allow: ['localhost'],
    allowPorts: [trickle.port, truncating.port, closedPort, stalledPort],
    timeouts: { connectMs: 500 },
    // Loopback is the internet here, except for one test that needs it blocked.
    allowCidrs: ['127.0.0.1/32'],
  });
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), trickle?.close(), truncating?.close()]);
  stalled?.kill();
});

const accessLine = (port: number): Promise<Record<string, unknown>> =>
  fleet.proxy.waitForLog((line) => (line.msg === 'forward' || line.msg === 'tunnel') && line.port === port);

describe('a client that leaves', () => {
  it('mid-response is logged and counted as aborted, not as a proxy error', async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(`GET http://localhost:${trickle.port}/stream HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expect((await readHead(socket)).status).toBe(200);
    socket.destroy();
    const line = await accessLine(trickle.port);
    expect(line).toMatchObject({ decision: 'aborted', reason: 'client_aborted', status: 200 });
    await expect
      .poll(() =>
        metricValue(
          fleet.config.metrics.port,
          'egress_proxy_requests_total{kind="forward",decision="aborted",status="200"}',
        ),
      )
      .toBe(1);
    expect(
      await metricValue(
        fleet.config.metrics.port,
        'egress_proxy_requests_total{kind="forward",decision="error",status="500"}',
      ),
    ).toBeUndefined();
  });
});

describe('upstream failures', () => {
  it('an origin that closes mid-body cuts the response short and is logged as such', async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(`GET http://localhost:${truncating.port}/ HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const head = await readHead(socket);
    expect(head.status).toBe(200);
    // The client learns the body is incomplete: the connection closes before 10 bytes came.
    const rest = await readUntilEnd(socket);
    expect(rest.length).toBeLessThan(10);
    expect(await accessLine(truncating.port)).toMatchObject({ decision: 'error', reason: 'upstream_closed' });
  });
});

describe('an origin that accepts and never answers', () => {
  it('is given up on after timeouts.idleMs: 504 upstream_timeout', async () => {
    const silent = await startTcpOrigin((socket) => socket.on('error', () => undefined));
    const impatient = await startProxy({
      allow: ['localhost'],
      allowPorts: [silent.port],
      allowCidrs: ['127.0.0.1/32'],
      timeouts: { idleMs: 1_000 },
    });
    try {
      const response = await exchange(
        impatient.config.proxy.port,
        `GET http://localhost:${silent.port}/ HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      );
      expect(response.status).toBe(504);
      expect(response.headers['x-egress-proxy-reason']).toBe('upstream_timeout');
    } finally {
      await Promise.all([impatient.stop(), silent.close()]);
    }
  });
});

describe('what a refused client is told', () => {
  const connect = (authority: string): Promise<RawResponse> =>
    exchange(fleet.config.proxy.port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  /** The answer without what legitimately differs between two destinations: the port. */
  const comparable = (response: RawResponse, port: number): unknown => ({
    status: response.status,
    reason: response.headers['x-egress-proxy-reason'],
    proxyStatus: response.headers['proxy-status']?.replaceAll(String(port), 'PORT'),
    body: response.body.replaceAll(String(port), 'PORT'),
  });

  it('is the same for a refused and a timed-out connect (no port-scan oracle); the log has the difference', async () => {
    const fillers = Array.from({ length: 4 }, () =>
      tcpConnect(stalledPort, '127.0.0.1').on('error', () => undefined),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [refused, timedOut] = await Promise.all([
      connect(`localhost:${closedPort}`),
      connect(`localhost:${stalledPort}`),
    ]);
    for (const filler of fillers) filler.destroy();
    expect(refused.status).toBe(502);
    expect(comparable(timedOut, stalledPort)).toEqual(comparable(refused, closedPort));
    expect(refused.body).not.toMatch(/refused|ECONN|127\.0\.0\.1/i);
    const [refusedLine, timedOutLine] = await Promise.all([accessLine(closedPort), accessLine(stalledPort)]);
    expect(refusedLine.detail).toMatch(/127\.0\.0\.1.*ECONNREFUSED/);
    expect(timedOutLine.detail).toMatch(/127\.0\.0\.1.*timed out/);
  });
});
