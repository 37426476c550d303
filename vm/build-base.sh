#!/usr/bin/env bash
# Builds the cached base of the image boot test: a minimal Debian bookworm root file system with
# systemd, a kernel, cloud-init and the QEMU guest agent, plus the kernel and initrd QEMU boots
# directly (no bootloader, no partition table). The product is not in it: vm/prepare-image.sh
# installs it per run with the project's own image/install.sh.
#
# Usage: build-base.sh OUT_DIR [DEB_CACHE_DIR]
#   OUT_DIR        created by this script: rootfs/, vmlinuz, initrd.img
#   DEB_CACHE_DIR  debootstrap's .deb cache, kept between builds (optional)
# Needs root and debootstrap. The caller (vm/base.ts) keys OUT_DIR by a hash of this file.
set -euo pipefail

readonly out="${1:?usage: build-base.sh OUT_DIR [DEB_CACHE_DIR]}"
readonly deb_cache="${2:-}"
readonly suite=bookworm
readonly mirror="${EGRESS_PROXY_VM_MIRROR:-http://deb.debian.org/debian}"
# systemd and udev: the init the units run under. procps: sysctl, which install.sh runs.
# passwd: useradd. curl: the image's smoke-test.sh. iproute2: networking in the guest.
# dbus: hostnamectl, used by cloud-init. linux-image-cloud-amd64: the kernel for VMs.
# python3-cffi-backend: provides a virtual package cloud-init needs, which debootstrap does not
# resolve by itself. rsyslog: the journal-to-file path of the instances' logs (configured below
# as Amazon Linux 2023 ships it).
readonly packages=(
  systemd systemd-sysv udev dbus procps passwd iproute2 curl kmod rsyslog
  linux-image-cloud-amd64 initramfs-tools
  cloud-init python3-cffi-backend qemu-guest-agent
)

if [[ -e "${out}" ]]; then
  echo "build-base.sh: ${out} exists" >&2
  exit 1
fi
readonly rootfs="${out}/rootfs"
mkdir -p "${rootfs}"

cache_args=()
if [[ -n "${deb_cache}" ]]; then
  mkdir -p "${deb_cache}"
  cache_args=(--cache-dir="$(cd "${deb_cache}" && pwd)")
fi

package_list="$(
  IFS=,
  echo "${packages[*]}"
)"
debootstrap --variant=minbase --include="${package_list}" "${cache_args[@]}" \
  "${suite}" "${rootfs}" "${mirror}"

# systemctl in the chroot edits unit files only (see vm/prepare-image.sh).
export SYSTEMD_OFFLINE=1

# The root file system is the whole of /dev/vda (see vm/qemu.ts); no swap.
printf '/dev/vda / ext4 defaults,noatime 0 1\n' >"${rootfs}/etc/fstab"
echo egress-proxy-vm >"${rootfs}/etc/hostname"

# Static address for QEMU user networking (guest 10.0.2.15, gateway 10.0.2.2): no DHCP wait at
# boot. cloud-init leaves the network alone (below), as the EC2 image's network is not the test.
cat >"${rootfs}/etc/systemd/network/10-qemu-user.network" <<'NETWORK'
[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
LinkLocalAddressing=no
IPv6AcceptRA=no
NETWORK
chroot "${rootfs}" systemctl enable systemd-networkd.service

# cloud-init: only the NoCloud seed (the cidata disk vm/seed.ts writes), no network config, and a
# locale that needs no generating (minbase has no locale data).
cat >"${rootfs}/etc/cloud/cloud.cfg.d/90-egress-proxy-vm.cfg" <<'CLOUD'
datasource_list: [NoCloud, None]
network:
  config: disabled
locale: C.UTF-8
CLOUD

# rsyslog as Amazon Linux 2023's package sets it up (Fedora's layout), not Debian's: it reads the
# journal with imjournal (Debian's reads journald's syslog socket with imuxsock), and journald
# does not forward to syslog. So the test runs the instances' path, and its limits. (AL2023's line
# also sets FileCreateMode, which Debian's rsyslog 8.2302 does not know.)
mkdir -p "${rootfs}/var/lib/rsyslog"
cat >"${rootfs}/etc/rsyslog.conf" <<'RSYSLOG'
global(workDirectory="/var/lib/rsyslog")
module(load="builtin:omfile" Template="RSYSLOG_TraditionalFileFormat")
module(load="imjournal"             # provides access to the systemd journal
       UsePid="system" # PID number is retrieved as the ID of the process the journal entry originates from
       StateFile="imjournal.state") # File to store the position in the journal
include(file="/etc/rsyslog.d/*.conf" mode="optional")
*.info;mail.none;authpriv.none;cron.none                /var/log/messages
RSYSLOG
mkdir -p "${rootfs}/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToSyslog=no\n' >"${rootfs}/etc/systemd/journald.conf.d/90-egress-proxy-vm.conf"

# Nothing periodic or optional competes with the test for the emulated CPUs.
chroot "${rootfs}" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer

# Kernel and initrd for QEMU's -kernel/-initrd.
cp "$(find "${rootfs}/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n 1)" "${out}/vmlinuz"
cp "$(find "${rootfs}/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -n 1)" "${out}/initrd.img"
chmod 0644 "${out}/vmlinuz" "${out}/initrd.img"

# Smaller per-run images: no package lists, no documentation.
rm -rf "${rootfs}/var/lib/apt/lists/"* "${rootfs}/var/cache/apt/"*.bin "${rootfs}/usr/share/doc" \
  "${rootfs}/usr/share/man" "${rootfs}/usr/share/locale"
echo "build-base.sh: base built in ${out}"
