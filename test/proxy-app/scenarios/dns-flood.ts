/**
 * Run by dns.test.ts inside its own namespaces (see isolated.ts), with the scenario's DNS server
 * as the system resolver: a name that does not exist, asked for twice; then one client floods
 * unique slow names under an allowed wildcard while it and another client (another source
 * address) ask for a cached name, an IP literal and a new name that resolves at once.
 * Prints what happened when, as JSON (times in ms from the start of the flood).
 */
import { dial, readResponse } from '../client.js';
import { startProxy } from '../harness.js';
import { startTcpOrigin } from '../origins.js';
import { startDnsServer } from './dns-server.js';

const DELAY_MS = 2_000;
const FLOOD = 24;

const dns = await startDnsServer(DELAY_MS);
const origin = await startTcpOrigin((socket) => socket.on('end', () => socket.end()));
const fleet = await startProxy({
  allow: ['*.slow.test', '*.fast.test', '*.nx.test'],
  allowPorts: [origin.port],
  allowCidrs: ['127.0.0.0/8'],
  proxy: { workers: 1 },
  timeouts: { connectMs: 30_000 },
});

/** Opens a tunnel and closes it at once; resolves with the CONNECT status. */
async function connect(authority: string, from = '127.0.0.1'): Promise<number> {
  const socket = await dial(fleet.config.proxy.port, '127.0.0.1', from);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  const { status } = await readResponse(socket, 40_000);
  socket.destroy();
  return status;
}

const nxStatuses = [await connect(`a.nx.test:${origin.port}`), await connect(`a.nx.test:${origin.port}`)];
const warmStatus = await connect(`warm.slow.test:${origin.port}`);

const started = performance.now();
const since = (): number => Math.round(performance.now() - started);
const floodAnswered: number[] = [];
const flood = Promise.all(
  Array.from({ length: FLOOD }, (_, i) =>
    connect(`f${i}.slow.test:${origin.port}`).then((status) => {
      floodAnswered.push(since());
      return status;
    }),
  ),
);
await new Promise((resolve) => setTimeout(resolve, 200));
const cached = await connect(`warm.slow.test:${origin.port}`);
const cachedAnsweredMs = since();
const literal = await connect(`127.0.0.1:${origin.port}`);
const literalAnsweredMs = since();
const otherClient = await connect(`new.fast.test:${origin.port}`, '127.0.0.2');
const otherClientAnsweredMs = since();
const floodStatuses = await flood;

await fleet.stop();
await origin.close();
dns.close();
console.log(
  JSON.stringify({
    nxStatuses,
    nxQueries: dns.queries.get('a.nx.test') ?? 0,
    warmStatus,
    cached,
    cachedAnsweredMs,
    literal,
    literalAnsweredMs,
    otherClient,
    otherClientAnsweredMs,
    firstFloodAnsweredMs: Math.min(...floodAnswered),
    floodStatuses,
    mostConcurrentLookups: dns.mostConcurrent(),
  }),
);
