/**
 * The drill's private network, built only from namespaces this run creates: nothing is added to
 * the host's own interfaces or routes. `epd-net` holds the bridge (the "VPC subnet") and routes to
 * `epd-inet` (the "internet", behind its own subnet, like a NAT gateway's path); the load balancer,
 * the client and every instance hang off the bridge by veth pairs created from inside `epd-net`.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { must, run } from './exec.js';
import { pidAlive, signalPid } from './processes.js';

/** Every namespace, /etc/netns entry and run directory of the drill starts with this. */
export const PREFIX = 'epd-';

export const NS = {
  net: `${PREFIX}net`,
  lb: `${PREFIX}lb`,
  client: `${PREFIX}client`,
  internet: `${PREFIX}inet`,
} as const;

export const SUBNET = '10.203.0.0/24';
export const ROUTER_IP = '10.203.0.1';
export const LB_IP = '10.203.0.2';
export const CLIENT_IP = '10.203.0.3';
export const INTERNET_SUBNET = '10.203.1.0/24';
const INTERNET_ROUTER_IP = '10.203.1.1';
export const ORIGIN_IP = '10.203.1.2';
export const ORIGIN_NAME = 'origin.drill';
/** The router's interface towards the internet namespace; taking it down is the outage. */
const INTERNET_LINK = 'inet';
const BRIDGE = 'br0';
const BRIDGE_MAC = '02:00:0a:cb:00:01';
const MAX_INSTANCE_INDEX = 200;

export const instanceNamespace = (index: number): string => `${PREFIX}i${index}`;
export const instanceIp = (index: number): string => {
  if (!Number.isInteger(index) || index < 1 || index > MAX_INSTANCE_INDEX) {
    throw new Error(`instance index ${index} out of range 1-${MAX_INSTANCE_INDEX}`);
  }
  return `10.203.0.${10 + index}`;
};

const ip = (args: string[]): Promise<string> => must('ip', args);

/** Creates the router/bridge namespace, the internet, the load balancer's and the client's. */
export async function createNetwork(): Promise<void> {
  await ip(['netns', 'add', NS.net]);
  await ip(['-n', NS.net, 'link', 'set', 'lo', 'up']);
  await ip(['-n', NS.net, 'link', 'add', BRIDGE, 'type', 'bridge']);
  // A fixed address: otherwise the bridge takes the lowest address of its ports, so adding an
  // instance's veth can change the router's MAC under every neighbour's ARP cache, and routed
  // traffic (instances to the origin) blackholes for seconds.
  await ip(['-n', NS.net, 'link', 'set', BRIDGE, 'address', BRIDGE_MAC]);
  await ip(['-n', NS.net, 'addr', 'add', `${ROUTER_IP}/24`, 'dev', BRIDGE]);
  await ip(['-n', NS.net, 'link', 'set', BRIDGE, 'up']);
  // Per-namespace setting: only epd-net forwards, the host's own sysctl is untouched.
  await must('ip', ['netns', 'exec', NS.net, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);

  await ip(['netns', 'add', NS.internet]);
  await ip(['-n', NS.internet, 'link', 'set', 'lo', 'up']);
  await ip([
    '-n',
    NS.net,
    'link',
    'add',
    INTERNET_LINK,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    NS.internet,
  ]);
  await ip(['-n', NS.net, 'addr', 'add', `${INTERNET_ROUTER_IP}/24`, 'dev', INTERNET_LINK]);
  await ip(['-n', NS.net, 'link', 'set', INTERNET_LINK, 'up']);
  await ip(['-n', NS.internet, 'addr', 'add', `${ORIGIN_IP}/24`, 'dev', 'eth0']);
  await ip(['-n', NS.internet, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', NS.internet, 'route', 'add', 'default', 'via', INTERNET_ROUTER_IP]);

  await attach(NS.lb, 'lb', LB_IP);
  await attach(NS.client, 'client', CLIENT_IP);
}

/** A new namespace on the bridge with `address`, default route through epd-net. */
export async function attach(ns: string, link: string, address: string): Promise<void> {
  await ip(['netns', 'add', ns]);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  await ip(['-n', NS.net, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await ip(['-n', NS.net, 'link', 'set', link, 'master', BRIDGE]);
  await ip(['-n', NS.net, 'link', 'set', link, 'up']);
  await ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', ns, 'route', 'add', 'default', 'via', ROUTER_IP]);
}

/** Kills whatever still runs in `ns` (only drill processes join drill namespaces) and deletes it. */
export async function deleteNamespace(ns: string): Promise<void> {
  if (!ns.startsWith(PREFIX)) throw new Error(`refusing to delete ${ns}: not a drill namespace`);
  const pids = await run('ip', ['netns', 'pids', ns]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    signalPid(pid, 'SIGCONT');
    signalPid(pid, 'SIGKILL');
  }
  // Deleting the namespace removes its end of the veth pair, and with it the bridge port.
  await run('ip', ['netns', 'del', ns]);
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

/** `/etc/netns/NS/hosts`, which `ip netns exec` bind-mounts over /etc/hosts inside NS. */
export function writeHostsFile(ns: string, entries: Readonly<Record<string, string>>): void {
  const dir = join('/etc/netns', ns);
  mkdirSync(dir, { recursive: true });
  const lines = [
    '127.0.0.1 localhost',
    '::1 localhost',
    ...Object.entries(entries).map(([n, a]) => `${a} ${n}`),
  ];
  writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
}

export async function setInternet(up: boolean): Promise<void> {
  await ip(['-n', NS.net, 'link', 'set', INTERNET_LINK, up ? 'up' : 'down']);
}

/** Drill namespaces that exist now (from this run or a crashed one). */
export async function listDrillNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(PREFIX));
}

/**
 * Removes everything a previous drill left behind: its namespaces (and the processes in them),
 * its /etc/netns entries and run directories. Only names with the drill's prefix are touched.
 */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  // Instances first, the bridge namespace last.
  const names = (await listDrillNamespaces()).sort((a, b) => Number(a === NS.net) - Number(b === NS.net));
  for (const ns of names) {
    await deleteNamespace(ns);
    removed.push(ns);
  }
  if (existsSync('/etc/netns')) {
    for (const entry of readdirSync('/etc/netns')) {
      if (entry.startsWith(PREFIX)) rmSync(join('/etc/netns', entry), { recursive: true, force: true });
    }
    // It did not exist before the drill on a clean host; leave it if anything else uses it.
    if (readdirSync('/etc/netns').length === 0) rmdirSync('/etc/netns');
  }
  for (const entry of readdirSync(tmpdir())) {
    if (entry.startsWith(`${PREFIX}run-`)) {
      const pid = Number(entry.slice(`${PREFIX}run-`.length));
      if (!pidAlive(pid) || pid === process.pid)
        rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    }
  }
  return removed;
}

const LOCK = join(tmpdir(), `${PREFIX}drill.lock`);

/**
 * One drill at a time per host: the namespaces and addresses are fixed. A lock held by a dead
 * process (a crashed run) is taken over, and that run's leftovers are then removed.
 */
export function acquireLock(): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return releaseLock;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(LOCK, 'utf8'));
      if (holder && holder !== process.pid && pidAlive(holder)) {
        throw new Error(`another drill is running (pid ${holder}, lock ${LOCK})`);
      }
      rmSync(LOCK, { force: true });
    }
  }
  throw new Error(`cannot take the drill lock ${LOCK}`);
}

/** Removes the lock if this process holds it (safe to call from an exit handler). */
export function releaseLock(): void {
  try {
    if (readFileSync(LOCK, 'utf8') === String(process.pid)) rmSync(LOCK, { force: true });
  } catch {
    // not held
  }
}

/** Removes the lock if the process holding it is gone. */
export function removeStaleLock(): void {
  try {
    const holder = Number(readFileSync(LOCK, 'utf8'));
    if (!holder || !pidAlive(holder)) rmSync(LOCK, { force: true });
  } catch {
    // no lock
  }
}

/** The run's scratch directory (configs, haproxy socket). */
export function makeRunDir(): string {
  const dir = join(tmpdir(), `${PREFIX}run-${process.pid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
