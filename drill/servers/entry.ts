/** `node --import tsx drill/servers/entry.ts NAME ARGS...`: the helper processes' one entry. */
import { main as appconfig } from './appconfig.js';
import { main as awsStandIn } from './aws-stand-in.js';
import { main as fakeProxy } from './fake-proxy.js';
import { main as heldConnections } from './held-connections.js';
import { main as origin } from './origin.js';
import { main as trafficClient } from './traffic-client.js';
import { main as tunnelClient } from './tunnel-client.js';

const MAINS = {
  origin,
  'fake-proxy': fakeProxy,
  'traffic-client': trafficClient,
  'tunnel-client': tunnelClient,
  'aws-stand-in': awsStandIn,
  appconfig,
  'held-connections': heldConnections,
} as const;
export type ServerScript = keyof typeof MAINS;

const [name, ...args] = process.argv.slice(2);
const main = MAINS[name as ServerScript] as ((args: readonly string[]) => Promise<void>) | undefined;
if (!main) {
  process.stderr.write(`unknown helper ${String(name)}; one of ${Object.keys(MAINS).join(', ')}\n`);
  process.exit(2);
}
main(args).catch((error: unknown) => {
  process.stderr.write(`${String(name)}: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
