import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBase } from './base.js';
import { GuestAgent } from './guest-agent.js';
import { waitFor } from './http.js';
import { guestNode, type GuestNode } from './node.js';
import { BUNDLE_DIR, IMAGE_DIR, RUN_PARENT_DIR, VM_DIR } from './paths.js';
import { freePort } from '../test/support/free-port.js';
import { QEMU_PID_FILE, startVm, type Vm } from './qemu.js';
import { run } from './run.js';
import { writeSeed } from './seed.js';
import { renderUserData, type RenderedUserData } from './user-data.js';

export const GUEST_PROXY_PORT = 3128;
export const GUEST_HEALTH_PORT = 8081;

export interface Timings {
  baseMs: number;
  baseBuilt: boolean;
  imageMs: number;
  /** QEMU started -> /healthcheck answered 200 through the forwarded port. */
  bootMs: number;
}

export interface BootedVm {
  readonly vm: Vm;
  readonly agent: GuestAgent;
  /** Host ports on 127.0.0.1. */
  readonly proxyPort: number;
  readonly healthPort: number;
  readonly healthUrl: string;
  readonly userData: RenderedUserData;
  readonly node: GuestNode;
  readonly timings: Timings;
  /** The last lines of the guest's serial console. */
  consoleTail(lines?: number): string;
  /** Stops QEMU (by PID) and removes the run's folder. Safe to call twice. */
  dispose(): Promise<void>;
}

const BOOT_DEADLINE_MS = 240_000;
const RUN_PREFIX = 'egress-proxy-vm-';
/** The PID of the test process that owns a run folder. */
const OWNER_FILE = 'owner.pid';

const alive = (pid: number): boolean => pid > 0 && existsSync(`/proc/${pid}`);
const readPid = (path: string): number => (existsSync(path) ? Number(readFileSync(path, 'utf8').trim()) : 0);

/**
 * One VM at a time: refuses to start while another test process owns a run folder, and cleans up
 * after a test process that died without doing so (its QEMU, by the PID it recorded, and its disk).
 */
function removeStaleRuns(): void {
  for (const entry of readdirSync(RUN_PARENT_DIR)) {
    if (!entry.startsWith(RUN_PREFIX)) continue;
    const dir = join(RUN_PARENT_DIR, entry);
    const owner = readPid(join(dir, OWNER_FILE));
    if (owner !== process.pid && alive(owner)) {
      throw new Error(`another image boot test (PID ${owner}) is running in ${dir}; one VM at a time`);
    }
    const qemu = readPid(join(dir, QEMU_PID_FILE));
    // Only that run's QEMU: its command line names the run's folder.
    if (alive(qemu) && readFileSync(`/proc/${qemu}/cmdline`, 'utf8').includes(dir))
      process.kill(qemu, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Builds (or takes from the cache) the base, installs the product into this run's disk with
 * image/install.sh, boots it with the CDK app's user data as the NoCloud seed and waits for
 * /healthcheck to answer 200 on the forwarded health port. On any failure everything started
 * so far is stopped and removed before the error is thrown.
 */
export async function bootProductVm(log: (line: string) => void): Promise<BootedVm> {
  if (!existsSync(join(BUNDLE_DIR, 'proxy.js'))) throw new Error(`${BUNDLE_DIR} is not built: npm run build`);
  removeStaleRuns();
  const runDir = mkdtempSync(join(RUN_PARENT_DIR, RUN_PREFIX));
  writeFileSync(join(runDir, OWNER_FILE), `${process.pid}\n`);
  let vm: Vm | undefined;
  let agent: GuestAgent | undefined;
  const killOnExit = (): void => {
    if (vm) {
      try {
        process.kill(vm.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killOnExit);
  let disposed = false;
  const consoleTail = (lines = 60): string => {
    const path = join(runDir, 'console.log');
    return existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
  };
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    agent?.close();
    await vm?.stop();
    process.off('exit', killOnExit);
    rmSync(runDir, { recursive: true, force: true });
  };

  try {
    const base = await ensureBase(log);
    log(`base ${base.built ? 'built' : 'cached'} in ${base.ms} ms: ${base.dir}`);
    const node = await guestNode();
    log(`guest Node.js ${node.version} from ${node.source}`);

    let started = Date.now();
    await run(
      'bash',
      [join(VM_DIR, 'prepare-image.sh'), base.dir, runDir, BUNDLE_DIR, IMAGE_DIR, node.path],
      {
        timeoutMs: 5 * 60_000,
      },
    );
    const imageMs = Date.now() - started;
    log(`product installed with image/install.sh in ${imageMs} ms`);

    const userData = renderUserData();
    const seed = await writeSeed(runDir, userData.script);
    const proxyPort = await freePort();
    const healthPort = await freePort();
    started = Date.now();
    vm = startVm({
      runDir,
      kernel: join(base.dir, 'vmlinuz'),
      initrd: join(base.dir, 'initrd.img'),
      disk: join(runDir, 'rootfs.img'),
      seed,
      forwards: [
        { guest: GUEST_PROXY_PORT, host: proxyPort },
        { guest: GUEST_HEALTH_PORT, host: healthPort },
      ],
    });
    log(`QEMU started, PID ${vm.pid}; proxy on 127.0.0.1:${proxyPort}, health on 127.0.0.1:${healthPort}`);
    const healthUrl = `http://127.0.0.1:${healthPort}/healthcheck`;
    let exitedEarly = false;
    void vm.exited.then(() => (exitedEarly = true));
    const health = await Promise.race([
      waitFor(healthUrl, (a) => a.status === 200 || exitedEarly, BOOT_DEADLINE_MS, 1_000),
      vm.exited.then((code) => {
        throw new Error(`QEMU exited (${code}) during boot`);
      }),
    ]);
    if (health.status !== 200) {
      throw new Error(
        `${healthUrl} did not answer 200 within ${BOOT_DEADLINE_MS} ms (last ${health.status})`,
      );
    }
    const bootMs = Date.now() - started;
    log(`/healthcheck answered 200 ${bootMs} ms after QEMU started`);
    agent = await GuestAgent.connect(vm.agentSocket, 60_000);
    return {
      vm,
      agent,
      proxyPort,
      healthPort,
      healthUrl,
      userData,
      node,
      timings: { baseMs: base.ms, baseBuilt: base.built, imageMs, bootMs },
      consoleTail,
      dispose,
    };
  } catch (error) {
    const tail = consoleTail();
    await dispose();
    throw new Error(
      `${(error as Error).message}${tail ? `\n--- guest console (last lines) ---\n${tail}` : ''}`,
      {
        cause: error,
      },
    );
  }
}
