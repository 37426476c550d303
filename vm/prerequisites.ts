import { spawnSync } from 'node:child_process';

/** Executables the boot test needs on the build machine, with the Debian package of each. */
export const TOOLS: ReadonlyArray<readonly [tool: string, debianPackage: string]> = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['debootstrap', 'debootstrap'],
  ['genisoimage', 'genisoimage'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['unshare', 'util-linux'],
];

/** Why the boot test cannot run here, or undefined when it can. */
export function missingPrerequisites(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs Linux on x86-64';
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot, mounts)';
  const missing = TOOLS.filter(
    ([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  return `${missing.map(([tool]) => tool).join(', ')} not on PATH; apt-get install ${packages}`;
}
