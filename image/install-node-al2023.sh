#!/usr/bin/env bash
# Amazon Linux 2023: installs Node.js 22 from the distribution and points the stable path the units
# use, /usr/libexec/egress-proxy/node, at it. AL2023 names the binary node-22 and selects `node`
# through alternatives, so the units must not depend on which `node` alternatives picks.
set -euo pipefail

readonly major=22

dnf install -y "nodejs${major}"

binary="$(command -v "node-${major}" || true)"
if [[ -z "${binary}" ]]; then
  echo "install-node-al2023.sh: node-${major} not found after installing nodejs${major}" >&2
  exit 1
fi
install -d -m 0755 /usr/libexec/egress-proxy
ln -sfn "$(readlink -f "${binary}")" /usr/libexec/egress-proxy/node
/usr/libexec/egress-proxy/node --version
