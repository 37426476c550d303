import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.js';

/**
 * A NoCloud seed (a disk labelled cidata, as cloud-init's NoCloud datasource looks for) holding
 * the user data. The instance id is fresh per run, so cloud-init treats each boot as a first boot.
 */
export async function writeSeed(runDir: string, userData: string): Promise<string> {
  const dir = join(runDir, 'seed');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'user-data'), userData);
  writeFileSync(
    join(dir, 'meta-data'),
    `instance-id: i-vmtest${Date.now().toString(16)}\nlocal-hostname: egress-proxy-vm\n`,
  );
  const iso = join(runDir, 'seed.iso');
  await run(
    'genisoimage',
    [
      '-quiet',
      '-output',
      iso,
      '-volid',
      'cidata',
      '-joliet',
      '-rock',
      join(dir, 'user-data'),
      join(dir, 'meta-data'),
    ],
    { timeoutMs: 60_000 },
  );
  return iso;
}
