#!/usr/bin/env bash
# Debian (the image boot test's VM): the counterpart of image/install-node-al2023.sh. Installs a
# given Node.js binary at the stable path the units use, /usr/libexec/egress-proxy/node. The test
# passes the build machine's own binary, or Node.js 22 from the npm registry when that one is
# older than install.sh accepts (vm/node.ts). Only the official Linux x64 build is expected: it
# needs nothing from the distribution beyond glibc and libstdc++.
set -euo pipefail

readonly binary="${1:?usage: install-node-debian.sh NODE_BINARY}"

install -d -m 0755 /usr/libexec/egress-proxy
install -m 0755 "${binary}" /usr/libexec/egress-proxy/node
/usr/libexec/egress-proxy/node --version
