#!/usr/bin/env bash
# Makes the disk of one test run: the cached base (vm/build-base.sh) with the product installed
# the way the Image Builder component (image/component.yaml) installs it: the same /tmp/egress-proxy
# layout, the distribution's Node.js step, then the project's own image/install.sh, unchanged.
#
# Usage: prepare-image.sh BASE_DIR RUN_DIR BUNDLE_DIR IMAGE_DIR NODE_BINARY
#   BASE_DIR     a built base (rootfs/, vmlinuz, initrd.img); not modified
#   RUN_DIR      an empty folder for this run; gets rootfs.img
#   BUNDLE_DIR   proxy-app/dist
#   IMAGE_DIR    the repository's image/ folder
#   NODE_BINARY  Node.js 22 or newer for the guest
#
# The base is the lower layer of an overlay mount, so it stays as built. Everything runs in
# private mount and network namespaces: the mounts vanish with this script, even when it fails, and
# install.sh's `sysctl --load` changes a throwaway network namespace instead of the build machine.
# (systemd applies the same file at the guest's boot, which the test checks.)
set -euo pipefail

if [[ "${EGRESS_PROXY_VM_IN_NAMESPACE:-}" != 1 ]]; then
  EGRESS_PROXY_VM_IN_NAMESPACE=1 exec unshare --mount --net --propagation private -- "$0" "$@"
fi

readonly base="${1:?usage: prepare-image.sh BASE_DIR RUN_DIR BUNDLE_DIR IMAGE_DIR NODE_BINARY}"
readonly run="${2:?}"
readonly bundle="${3:?}"
readonly image="${4:?}"
readonly node="${5:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here

readonly merged="${run}/merged"
mkdir -p "${run}/upper" "${run}/work" "${merged}"
mount -t overlay overlay -o "lowerdir=${base}/rootfs,upperdir=${run}/upper,workdir=${run}/work" "${merged}"
mount -t proc proc "${merged}/proc"
mount -t sysfs sysfs "${merged}/sys"
mount --bind /dev "${merged}/dev"

# What component.yaml's Install step has before it runs the scripts: the bundle and image/ unzipped.
readonly staging="${merged}/tmp/egress-proxy"
mkdir -p "${staging}"
cp -R "${bundle}" "${staging}/dist"
cp -R "${image}" "${staging}/image"
cp "${here}/install-node-debian.sh" "${staging}/install-node-debian.sh"
cp -L "${node}" "${staging}/node"

# SYSTEMD_OFFLINE=1: systemctl acts on the image's files (enable/disable) and skips what needs a
# running systemd (daemon-reload), as it does when it detects a chroot, which it cannot always do
# (in a container whose PID 1 it may not inspect).
export SYSTEMD_OFFLINE=1
chroot "${merged}" bash /tmp/egress-proxy/install-node-debian.sh /tmp/egress-proxy/node
chroot "${merged}" bash /tmp/egress-proxy/image/install.sh /tmp/egress-proxy/dist
rm -rf "${staging}"

umount "${merged}/dev" "${merged}/sys" "${merged}/proc"
# Root of the guest: the installed tree as an ext4 file system, with room for logs.
used_mib="$(du -s -m -x "${merged}" | cut -f1)"
size_mib=$((used_mib + 768))
mkfs.ext4 -q -F -L egress-proxy -d "${merged}" "${run}/rootfs.img" "${size_mib}M"
umount "${merged}"
rm -rf "${run}/upper" "${run}/work" "${merged}"
echo "prepare-image.sh: ${run}/rootfs.img (${size_mib} MiB)"
