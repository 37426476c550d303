import type { ChildProcess } from 'node:child_process';
import { connect as dial } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, tunnel } from '../client.js';
import { freePort } from '../../support/free-port.js';
import { startNonAcceptingListener, startProxy, type Fleet } from '../harness.js';
import { startHttpOrigin, startTcpOrigin, type HttpOrigin, type TcpOrigin } from '../origins.js';

let origin: HttpOrigin;
let silent: TcpOrigin;
let open: Fleet;
let guarded: Fleet;
let closedPort: number;
let stalledPort: number;
let stalled: ChildProcess;

beforeAll(async () => {
  origin = await startHttpOrigin();
  silent = await startTcpOrigin((socket) => socket.on('data', (data) => socket.write(data)));
  closedPort = await freePort();
  ({ child: stalled, port: stalledPort } = await startNonAcceptingListener());
  const ports = [origin.port, silent.port, closedPort, stalledPort];
  // Loopback stands in for the internet here, so it is allowed explicitly.
  open = await startProxy({
    allow: ['localhost', '*.example.invalid'],
    allowPorts: ports,
    allowCidrs: ['127.0.0.0/8'],
    timeouts: { connectMs: 500 },
  });
  // The production shape: no allowCidrs, so loopback is what an SSRF attempt reaches.
  guarded = await startProxy({ allow: ['localhost', 'example.com'], allowPorts: [...ports, 443] });
});

afterAll(async () => {
  await Promise.all([open?.stop(), guarded?.stop(), origin?.close(), silent?.close()]);
  stalled?.kill();
});

const get = (fleet: Fleet, url: string, extra = ''): ReturnType<typeof exchange> =>
  exchange(fleet.config.proxy.port, `GET ${url} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`);
const connect = (fleet: Fleet, authority: string): ReturnType<typeof exchange> =>
  exchange(fleet.config.proxy.port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);

function expectDenial(response: Awaited<ReturnType<typeof exchange>>, status: number, reason: string): void {
  expect(response.status).toBe(status);
  expect(response.headers['x-egress-proxy-reason']).toBe(reason);
  expect(response.headers['proxy-status']).toMatch(/^egress-proxy; error=[a-z_]+; details=".+"$/);
  expect(JSON.parse(response.body)).toMatchObject({ status, reason });
}

describe('allowed destinations', () => {
  it('forwards an absolute-form request to an allowed name', async () => {
    const response = await get(open, `http://localhost:${origin.port}/hello?x=1`);
    expect(response.status).toBe(200);
    expect(response.body).toBe('GET /hello?x=1');
  });

  it('tunnels CONNECT to an allowed name and relays bytes', async () => {
    const socket = await tunnel(open.config.proxy.port, `localhost:${silent.port}`);
    socket.write('ping');
    const echoed = await new Promise<string>((resolve) =>
      socket.once('data', (data) => resolve(data.toString())).resume(),
    );
    socket.destroy();
    expect(echoed).toBe('ping');
  });

  it('passes an IP literal inside allowCidrs without an allow pattern', async () => {
    const response = await get(open, `http://127.0.0.1:${origin.port}/ip`);
    expect(response.status).toBe(200);
  });
});

describe('deny by default', () => {
  it('403 host_not_allowed for an unlisted name, in both modes', async () => {
    expectDenial(await get(guarded, 'http://example.org/'), 403, 'host_not_allowed');
    expectDenial(await connect(guarded, 'example.org:443'), 403, 'host_not_allowed');
  });

  it('403 port_not_allowed for a listed name on another port', async () => {
    expectDenial(await connect(guarded, 'example.com:22'), 403, 'port_not_allowed');
  });

  it.each([
    '169.254.169.254:80',
    '[fd00:ec2::254]:80',
    '[::ffff:169.254.169.254]:80',
    '0xa9.0xfe.0xa9.0xfe:80',
    '2852039166:80',
    '127.1:443',
    '10.0.0.1:443',
  ])('403 ip_literal_not_allowed for CONNECT %s', async (authority) => {
    expectDenial(await connect(guarded, authority), 403, 'ip_literal_not_allowed');
  });

  it('403 ip_literal_not_allowed for the metadata service in absolute form', async () => {
    expectDenial(
      await get(guarded, 'http://169.254.169.254/latest/meta-data/'),
      403,
      'ip_literal_not_allowed',
    );
  });

  it('403 address_blocked when an allowed name resolves to a private address (SSRF)', async () => {
    const response = await connect(guarded, `localhost:${origin.port}`);
    expectDenial(response, 403, 'address_blocked');
    // The client learns which name and which rule; the address it resolved to stays in the log.
    expect(JSON.parse(response.body).message).toMatch(/^localhost resolves to /);
    expect(response.raw).not.toMatch(/127\.0\.0\.1|loopback/);
    const line = await guarded.proxy.waitForLog(
      (entry) => entry.msg === 'tunnel' && entry.reason === 'address_blocked' && entry.port === origin.port,
    );
    expect(line.detail).toMatch(/127\.0\.0\.1 \(loopback\)/);
    expectDenial(await get(guarded, `http://localhost:${origin.port}/`), 403, 'address_blocked');
  });

  it('reaches the probe target from loopback clients, bypassing allow and SSRF rules', async () => {
    // The sidecar is not running here: getting past the policy means a refused connect.
    const response = await connect(guarded, `127.0.0.1:${guarded.config.health.port}`);
    expectDenial(response, 502, 'upstream_unreachable');
  });
});

describe('malformed requests and upstream failures', () => {
  it('400 origin_form for a request that is not addressed to a proxy', async () => {
    expectDenial(
      await exchange(open.config.proxy.port, 'GET /path HTTP/1.1\r\nHost: localhost\r\n\r\n'),
      400,
      'origin_form',
    );
  });

  it('400 connect_missing_port for CONNECT without a port', async () => {
    expectDenial(await connect(open, 'localhost'), 400, 'connect_missing_port');
  });

  it('400 unsupported_scheme for https:// in absolute form', async () => {
    expectDenial(await get(open, 'https://localhost/'), 400, 'unsupported_scheme');
  });

  it('502 name_not_found for a name that does not resolve', async () => {
    expectDenial(await connect(open, `no-such-host.example.invalid:${origin.port}`), 502, 'name_not_found');
  }, 30_000);

  it('502 upstream_unreachable when nothing listens', async () => {
    expectDenial(await connect(open, `localhost:${closedPort}`), 502, 'upstream_unreachable');
    expectDenial(await get(open, `http://localhost:${closedPort}/`), 502, 'upstream_unreachable');
  });

  it('502 upstream_unreachable, after connectMs, when the destination never answers the SYN', async () => {
    // Fill the accept queue so the next SYN is dropped.
    const fillers = Array.from({ length: 4 }, () =>
      dial(stalledPort, '127.0.0.1').on('error', () => undefined),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const response = await connect(open, `localhost:${stalledPort}`);
    for (const filler of fillers) filler.destroy();
    expectDenial(response, 502, 'upstream_unreachable');
  });

  it('502 upstream_bad_response when the origin does not speak HTTP', async () => {
    const garbage = await startTcpOrigin((socket) => socket.end('this is not http\r\n\r\n'));
    const fleet = await startProxy({
      allow: ['localhost'],
      allowPorts: [garbage.port],
      allowCidrs: ['127.0.0.0/8'],
    });
    try {
      expectDenial(await get(fleet, `http://localhost:${garbage.port}/`), 502, 'upstream_bad_response');
    } finally {
      await Promise.all([fleet.stop(), garbage.close()]);
    }
  });
});
