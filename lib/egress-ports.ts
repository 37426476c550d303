import type { EgressProxyConfig } from '../proxy-app/src/config/index.js';
import { parseAllowPattern } from '../proxy-app/src/policy/patterns.js';

/** An inclusive range of TCP ports. */
export type PortRange = readonly [from: number, to: number];

/**
 * The destination ports the proxy can be allowed to connect to under this config: the ports
 * patterns name (`example.com:8443`), and `allowPorts` where something uses them (a pattern
 * without a port, or `allowCidrs`). The instances' security group must let exactly these out, or
 * an allowed destination hangs at the security group instead of being refused.
 */
export function reachablePorts(
  config: Pick<EgressProxyConfig, 'allow' | 'allowPorts' | 'allowCidrs'>,
): number[] {
  const patterns = config.allow.map(parseAllowPattern);
  const ports = new Set(patterns.flatMap((pattern) => (pattern.port === null ? [] : [pattern.port])));
  if (config.allowCidrs.length > 0 || patterns.some((pattern) => pattern.port === null)) {
    for (const port of config.allowPorts) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** Sorted ports folded into contiguous ranges (one security group rule each). */
export function portRanges(ports: readonly number[]): PortRange[] {
  const ranges: [number, number][] = [];
  for (const port of [...new Set(ports)].sort((a, b) => a - b)) {
    const last = ranges.at(-1);
    if (last && port === last[1] + 1) last[1] = port;
    else ranges.push([port, port]);
  }
  return ranges;
}
