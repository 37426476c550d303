import type { EgressProxyConfig } from '../config/schema.js';
import { formatIp, parseCidr, parseIp, type Cidr, type IpBytes } from './ip.js';
import { Allowlist, parseAllowPattern } from './patterns.js';
import { inAnyCidr, isLoopback, specialRange } from './special-ranges.js';
import { policyVersion } from './version.js';

export type DenialReason =
  | 'host_not_allowed'
  | 'port_not_allowed'
  | 'ip_literal_not_allowed'
  | 'address_blocked'
  | 'probe_target_remote_client';

export interface Denial {
  readonly reason: DenialReason;
  /** For the client: the rule and the name it asked for, nothing it did not already know. */
  readonly message: string;
  /** For the access log only: what the proxy found (resolved addresses and their ranges). */
  readonly detail?: string;
}

/** Where a client asked to go, normalized: lower-case host, no trailing dot, no brackets. */
export interface Destination {
  readonly host: string;
  readonly port: number;
  /** The host as an address when it is an IP literal, else null (a name to resolve). */
  readonly ip: IpBytes | null;
}

/**
 * Deny-by-default decisions, as pure functions of the loaded config. Two steps, because the
 * second needs DNS: `checkDestination` before resolving, `checkAddress` for every address the
 * name resolved to (the proxy then connects to exactly those addresses).
 */
export class Policy {
  readonly version: string;
  private readonly allowlist: Allowlist;
  private readonly allowPorts: ReadonlySet<number>;
  private readonly allowCidrs: readonly Cidr[];
  private readonly probePort: number;

  constructor(config: Pick<EgressProxyConfig, 'allow' | 'allowPorts' | 'allowCidrs' | 'health'>) {
    this.allowPorts = new Set(config.allowPorts);
    this.allowlist = new Allowlist(config.allow.map(parseAllowPattern), this.allowPorts);
    this.allowCidrs = config.allowCidrs.map(parseCidr);
    this.probePort = config.health.port;
    this.version = policyVersion(config);
  }

  /**
   * The sidecar's own target: loopback on the health port. Reachable only from this host, so
   * the health probe never depends on the allowlist or the internet.
   */
  isProbeTarget(destination: Destination): boolean {
    if (destination.port !== this.probePort) return false;
    return destination.ip ? isLoopback(destination.ip) : destination.host === 'localhost';
  }

  checkDestination(destination: Destination, client: IpBytes | null): Denial | null {
    const { host, port, ip } = destination;
    if (this.isProbeTarget(destination)) {
      return client && isLoopback(client)
        ? null
        : {
            reason: 'probe_target_remote_client',
            message: `${host}:${port} is reachable only from this host`,
          };
    }
    if (ip) {
      if (!inAnyCidr(this.allowCidrs, ip)) {
        return {
          reason: 'ip_literal_not_allowed',
          message: `${host} is an IP address outside allowCidrs; ask for a host name`,
        };
      }
      return this.allowPorts.has(port)
        ? null
        : { reason: 'port_not_allowed', message: `port ${port} is not in allowPorts` };
    }
    const verdict = this.allowlist.match(host, port);
    if (verdict === 'allowed') return null;
    return verdict === 'host_not_allowed'
      ? { reason: verdict, message: `${host} matches no allow pattern` }
      : { reason: verdict, message: `port ${port} is not allowed for ${host}` };
  }

  /**
   * Checks one resolved address of an allowed name against the SSRF ranges and allowCidrs. The
   * client is not told the address: that would map internal names to internal addresses.
   */
  checkAddress(destination: Destination, address: IpBytes): Denial | null {
    if (this.isProbeTarget(destination) || inAnyCidr(this.allowCidrs, address)) return null;
    const range = specialRange(address);
    if (range === null) return null;
    return {
      reason: 'address_blocked',
      message: `${destination.host} resolves to an address the proxy does not reach (a private or special-purpose range outside allowCidrs)`,
      detail: `${destination.host} resolves to ${formatIp(address)} (${range}), which is not in allowCidrs`,
    };
  }
}

/** Reads a client's socket address (which may be IPv4-mapped IPv6) into bytes. */
export function clientAddress(remoteAddress: string | undefined): IpBytes | null {
  return remoteAddress ? parseIp(remoteAddress) : null;
}
