#!/usr/bin/env bash
# Image acceptance test (Image Builder validate and test phases): starts both services with a test
# config and requires the sidecar's /healthcheck to answer 200, then puts the host back as the
# image ships it (units stopped and disabled, no config).
set -euo pipefail

readonly config=/etc/egress-proxy/config.json
readonly health_port="${1:-8081}"
readonly deadline_seconds="${2:-60}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
readonly units=(egress-proxy.service egress-proxy-sidecar.service)

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  systemctl stop "${units[@]}" || true
  systemctl reset-failed "${units[@]}" >/dev/null 2>&1 || true
  rm -f "${config}"
}
trap cleanup EXIT

install -m 0640 -o root -g egress-proxy "${here}/smoke-test-config.json" "${config}"
systemctl start "${units[@]}"

url="http://127.0.0.1:${health_port}/healthcheck"
for ((i = 0; i < deadline_seconds; i++)); do
  status="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 5 "${url}" || true)"
  if [[ "${status}" == 200 ]]; then
    echo "smoke-test.sh: ${url} answered 200"
    exit 0
  fi
  sleep 1
done

echo "smoke-test.sh: ${url} did not answer 200 within ${deadline_seconds} s (last: ${status:-none})" >&2
journalctl --no-pager --lines=50 --unit egress-proxy.service --unit egress-proxy-sidecar.service >&2 || true
exit 1
