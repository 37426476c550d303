#!/usr/bin/env bash
# Installs the egress proxy onto a host: the bundles, an unprivileged user, the two systemd units
# (disabled: user data enables them once the config is written) and host tuning.
# Distribution-neutral: run install-node-<distro>.sh first, which must provide
# /usr/libexec/egress-proxy/node (Node.js 22 or newer).
#
# Usage: install.sh BUNDLE_DIR
#   BUNDLE_DIR  the proxy-app/dist folder (proxy.js, sidecar.js, package.json, ...)
set -euo pipefail

readonly bundle_dir="${1:?usage: install.sh BUNDLE_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
readonly node=/usr/libexec/egress-proxy/node

for file in proxy.js sidecar.js package.json; do
  if [[ ! -f "${bundle_dir}/${file}" ]]; then
    echo "install.sh: ${bundle_dir}/${file} is missing (run npm run build)" >&2
    exit 1
  fi
done

node_major="$("${node}" -p 'process.versions.node.split(".")[0]')"
if ((node_major < 22)); then
  echo "install.sh: ${node} is Node.js ${node_major}; 22 or newer is required" >&2
  exit 1
fi

# A system account with no shell and no home: the services own nothing on disk.
if ! id -u egress-proxy >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin egress-proxy
fi

# Bundles are root-owned and read-only to the service user. The whole folder is copied, including
# its package.json ({"type":"commonjs"}), which keeps the bundles CommonJS.
rm -rf /opt/egress-proxy
install -d -m 0755 /opt/egress-proxy
cp -R "${bundle_dir}/." /opt/egress-proxy/
chown -R root:root /opt/egress-proxy
find /opt/egress-proxy -type d -exec chmod 0755 {} +
find /opt/egress-proxy -type f -exec chmod 0644 {} +

# The config directory: written by user data as root, readable by the service group.
install -d -m 0750 -o root -g egress-proxy /etc/egress-proxy

install -D -m 0755 "${here}/smoke-test.sh" /usr/libexec/egress-proxy/smoke-test.sh
install -D -m 0644 "${here}/smoke-test-config.json" /usr/libexec/egress-proxy/smoke-test-config.json

install -m 0644 "${here}/systemd/egress-proxy.service" /etc/systemd/system/egress-proxy.service
install -m 0644 "${here}/systemd/egress-proxy-sidecar.service" /etc/systemd/system/egress-proxy-sidecar.service
systemctl daemon-reload
# Disabled in the image: an instance must not start the proxy before user data wrote its config.
systemctl disable egress-proxy.service egress-proxy-sidecar.service >/dev/null 2>&1 || true

install -D -m 0644 "${here}/host/60-egress-proxy-sysctl.conf" /etc/sysctl.d/60-egress-proxy.conf
install -D -m 0644 "${here}/host/60-egress-proxy-limits.conf" /etc/security/limits.d/60-egress-proxy.conf
sysctl --quiet --load /etc/sysctl.d/60-egress-proxy.conf

# Journal -> files -> CloudWatch agent, where rsyslog is installed (install-logging-*.sh).
if [[ -d /etc/rsyslog.d ]]; then
  install -d -m 0755 /var/log/egress-proxy
  install -m 0644 "${here}/host/60-egress-proxy-rsyslog.conf" /etc/rsyslog.d/60-egress-proxy.conf
  install -D -m 0644 "${here}/host/egress-proxy-logrotate" /etc/logrotate.d/egress-proxy
  # Where rsyslog reads the journal with imjournal (Amazon Linux 2023), it passes 20,000 messages
  # per 10 minutes by default and drops the rest. Its parameters can only be given where the module
  # is loaded, in rsyslog.conf, so that line gets the limit turned off.
  readonly rsyslog_conf=/etc/rsyslog.conf
  if grep -q 'load="imjournal"' "${rsyslog_conf}" && ! grep -qi 'ratelimit\.interval' "${rsyslog_conf}"; then
    sed -i 's/load="imjournal"/load="imjournal" Ratelimit.Interval="0"/' "${rsyslog_conf}"
  fi
  rsyslogd -N1 -f "${rsyslog_conf}" >/dev/null
fi

echo "install.sh: egress proxy installed (units disabled until user data enables them)"
