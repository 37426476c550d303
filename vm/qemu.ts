import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** In the run folder: QEMU's PID, for the cleanup after a test process that died (vm/boot.ts). */
export const QEMU_PID_FILE = 'qemu.pid';

export interface VmOptions {
  readonly runDir: string;
  readonly kernel: string;
  readonly initrd: string;
  /** The root file system (raw ext4, the whole of /dev/vda); written to by the guest. */
  readonly disk: string;
  /** The NoCloud cidata image. */
  readonly seed: string;
  /** Guest TCP port -> host port on 127.0.0.1. */
  readonly forwards: ReadonlyArray<{ readonly guest: number; readonly host: number }>;
  readonly memoryMiB?: number;
  readonly cpus?: number;
}

export interface Vm {
  readonly pid: number;
  /** QEMU's virtio-serial socket of the guest agent. */
  readonly agentSocket: string;
  /** The guest's serial console. */
  readonly consoleLog: string;
  /** Resolves when QEMU exits (for whatever reason). */
  readonly exited: Promise<number | null>;
  /** SIGTERM to QEMU's PID, SIGKILL if it is still there after 10 s. */
  stop(): Promise<void>;
}

/**
 * Boots the guest under QEMU's software emulation (KVM is not assumed), kernel and initrd given
 * directly. User networking with restrict=on: the guest reaches nothing outside the VM, and only
 * the listed ports are forwarded, to loopback on the host.
 */
export function startVm(options: VmOptions): Vm {
  const agentSocket = join(options.runDir, 'qga.sock');
  const consoleLog = join(options.runDir, 'console.log');
  const forwards = options.forwards.map(({ guest, host }) => `hostfwd=tcp:127.0.0.1:${host}-:${guest}`);
  const args = [
    '-accel',
    'tcg,thread=multi,tb-size=256',
    '-machine',
    'q35',
    '-cpu',
    'max',
    '-smp',
    String(options.cpus ?? 2),
    '-m',
    String(options.memoryMiB ?? 1024),
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-display',
    'none',
    '-serial',
    `file:${consoleLog}`,
    '-kernel',
    options.kernel,
    '-initrd',
    options.initrd,
    '-append',
    'root=/dev/vda rw console=ttyS0 quiet systemd.show_status=auto',
    '-drive',
    `file=${options.disk},if=virtio,format=raw,cache=unsafe,discard=unmap`,
    '-drive',
    `file=${options.seed},if=virtio,format=raw,readonly=on`,
    '-nic',
    ['user', 'model=virtio-net-pci', 'restrict=on', ...forwards].join(','),
    '-device',
    'virtio-rng-pci',
    '-device',
    'virtio-serial-pci',
    '-chardev',
    `socket,id=qga0,path=${agentSocket},server=on,wait=off`,
    '-device',
    'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
  ];
  const child: ChildProcess = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('qemu-system-x86_64 did not start');
  const pid = child.pid;
  writeFileSync(join(options.runDir, QEMU_PID_FILE), `${pid}\n`);
  // QEMU's own messages; the guest's console goes to consoleLog.
  const log = createWriteStream(join(options.runDir, 'qemu.log'));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  let alive = true;
  void exited.then(() => (alive = false));
  return {
    pid,
    agentSocket,
    consoleLog,
    exited,
    async stop() {
      if (!alive) return;
      process.kill(pid, 'SIGTERM');
      const killer = setTimeout(() => {
        if (alive) process.kill(pid, 'SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(killer);
      log.end();
    },
  };
}
