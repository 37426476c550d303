import { cidrContains, parseCidr, type Cidr, type IpBytes } from './ip.js';

/**
 * Address ranges a forward proxy must never reach on a client's behalf unless the operator
 * says so in `allowCidrs`: the instance itself, the VPC, the metadata service, and everything
 * that is not a routable unicast internet address (IANA special-purpose registries).
 */
const RANGES: ReadonlyArray<readonly [string, string]> = [
  ['169.254.169.254/32', 'instance-metadata'],
  ['fd00:ec2::254/128', 'instance-metadata'],
  ['0.0.0.0/8', 'this-network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'],
  ['64:ff9b:1::/48', 'private'],
  ['100::/64', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['2001::/23', 'reserved'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'reserved'],
  ['ff00::/8', 'multicast'],
];

const SPECIAL: ReadonlyArray<{ cidr: Cidr; name: string }> = RANGES.map(([text, name]) => ({
  cidr: parseCidr(text),
  name,
}));

/** IPv6 prefixes whose last 32 bits are an IPv4 address that decides where traffic goes. */
const EMBEDS_IPV4 = ['::ffff:0:0/96', '64:ff9b::/96'].map(parseCidr);
const SIX_TO_FOUR = parseCidr('2002::/16');

/**
 * The IPv4 address an IPv6 address stands for, if any: IPv4-mapped (`::ffff:a.b.c.d`),
 * NAT64 (`64:ff9b::/96`) and 6to4 (`2002:aabb:ccdd::/48`). These reach the embedded address,
 * so they are judged by it.
 */
export function embeddedIpv4(address: IpBytes): IpBytes | null {
  if (address.length !== 16) return null;
  if (EMBEDS_IPV4.some((cidr) => cidrContains(cidr, address))) return address.slice(12, 16);
  if (cidrContains(SIX_TO_FOUR, address)) return address.slice(2, 6);
  return null;
}

/** The name of the special range `address` is in (e.g. `private`, `instance-metadata`), or null. */
export function specialRange(address: IpBytes): string | null {
  const effective = embeddedIpv4(address) ?? address;
  return SPECIAL.find(({ cidr }) => cidrContains(cidr, effective))?.name ?? null;
}

/** True if `address`, or the IPv4 address it embeds, lies in one of `cidrs`. */
export function inAnyCidr(cidrs: readonly Cidr[], address: IpBytes): boolean {
  const embedded = embeddedIpv4(address);
  return cidrs.some(
    (cidr) => cidrContains(cidr, address) || (embedded !== null && cidrContains(cidr, embedded)),
  );
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms: a client on this host. */
export function isLoopback(address: IpBytes): boolean {
  return specialRange(address) === 'loopback';
}
