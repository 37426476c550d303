/**
 * AppConfig's data plane for the drill's instances: the stand-in the tests use, listening in the
 * internet namespace (as AppConfig is reached through NAT), deploying what the drill writes on stdin.
 */
import { createInterface } from 'node:readline';
import { startAppConfigStandIn } from '../../test/support/appconfig.js';
import { APPCONFIG_PORT, APPCONFIG_READY, DEPLOYED, type DeployCommand } from './protocol.js';

export async function main(): Promise<void> {
  // One second between polls: the drill's "poll interval" (AppConfig's minimum is 15 s).
  const stand = await startAppConfigStandIn({ host: '0.0.0.0', port: APPCONFIG_PORT, pollSeconds: 1 });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const { label, content } = JSON.parse(line) as DeployCommand;
    stand.deploy(content, label);
    process.stdout.write(`${DEPLOYED} ${label}\n`);
  });
  process.stdin.on('end', () => void stand.close().then(() => process.exit(0)));
  process.stdout.write(`${APPCONFIG_READY}\n`);
}
