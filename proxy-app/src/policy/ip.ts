import { isIPv4, isIPv6 } from 'node:net';

/** An IP address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

export interface Cidr {
  readonly bytes: IpBytes;
  readonly prefix: number;
  /** Canonical text, for messages. */
  readonly text: string;
}

/** Parses a canonical IPv4 or IPv6 literal (no brackets, no zone). Returns null if it is not one. */
export function parseIp(text: string): IpBytes | null {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (isIPv6(text) && !text.includes('%')) return parseIpv6(text);
  return null;
}

/** An IPv6 literal `isIPv6` accepted: groups around at most one `::`, the last may be a dotted quad. */
function parseIpv6(text: string): IpBytes {
  const gap = text.indexOf('::');
  const head = gap === -1 ? groupsOf(text) : groupsOf(text.slice(0, gap));
  const tail = gap === -1 ? [] : groupsOf(text.slice(gap + 2));
  const zeros = new Array<number>(8 - head.length - tail.length).fill(0);
  const bytes = new Uint8Array(16);
  [...head, ...zeros, ...tail].forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** `1:2:1.2.3.4` -> [1, 2, 0x0102, 0x0304]: a dotted quad counts as two groups. */
function groupsOf(part: string): number[] {
  if (part === '') return [];
  return part.split(':').flatMap((group) => {
    if (!group.includes('.')) return [parseInt(group, 16)];
    const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
    return [(a << 8) | b, (c << 8) | d];
  });
}

const V4_OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const V4 = `(?:${V4_OCTET}\\.){3}${V4_OCTET}`;
const V6_GROUP = '[0-9A-Fa-f]{1,4}';
/** Every IPv6 text form Node's isIPv6 accepts (zones excepted), spelled out per count of groups before "::". */
const V6 = `(?:${[
  `(?:${V6_GROUP}:){7}(?:${V6_GROUP}|:)`,
  `(?:${V6_GROUP}:){6}(?:${V4}|:${V6_GROUP}|:)`,
  `(?:${V6_GROUP}:){5}(?::${V4}|(?::${V6_GROUP}){1,2}|:)`,
  `(?:${V6_GROUP}:){4}(?:(?::${V6_GROUP}){0,1}:${V4}|(?::${V6_GROUP}){1,3}|:)`,
  `(?:${V6_GROUP}:){3}(?:(?::${V6_GROUP}){0,2}:${V4}|(?::${V6_GROUP}){1,4}|:)`,
  `(?:${V6_GROUP}:){2}(?:(?::${V6_GROUP}){0,3}:${V4}|(?::${V6_GROUP}){1,5}|:)`,
  `(?:${V6_GROUP}:){1}(?:(?::${V6_GROUP}){0,4}:${V4}|(?::${V6_GROUP}){1,6}|:)`,
  `(?::(?:(?::${V6_GROUP}){0,5}:${V4}|(?::${V6_GROUP}){1,7}|:))`,
].join('|')})`;
/** A prefix length of at most three digits (leading zeros allowed) up to 32, or 128. */
const V4_PREFIX = '(?=\\d{1,3}$)0*(?:3[0-2]|[12]?\\d)';
const V6_PREFIX = '(?=\\d{1,3}$)0*(?:12[0-8]|1[01]\\d|[1-9]?\\d)';

/**
 * Every text `parseCidr` can accept, as one regular expression shared with the policy's JSON
 * Schema. What it cannot say is that the bits after the prefix must be zero: that check is
 * `parseCidr`'s alone (the sidecar runs it before a policy is applied).
 */
export const CIDR_SOURCE = `^(?:${V4}(?:/${V4_PREFIX})?|${V6}(?:/${V6_PREFIX})?)$`;
const CIDR = new RegExp(CIDR_SOURCE);

/** Parses `a.b.c.d/n` or `v6::/n`; throws a plain Error describing what is wrong. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseIp(addressText);
  if (!bytes) throw new Error(`"${text}" is not an IP address or CIDR range`);
  const bits = bytes.length * 8;
  const prefixText = slash === -1 ? String(bits) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) {
    throw new Error(`"${text}" has a prefix length outside 0-${bits}`);
  }
  // The schema's own syntax has the last word, so the two cannot drift apart.
  if (!CIDR.test(text)) throw new Error(`"${text}" is not an IP address or CIDR range`);
  if (!hostBitsAreZero(bytes, prefix)) {
    throw new Error(`"${text}" has bits set after the prefix length`);
  }
  return { bytes, prefix, text: `${addressText}/${prefix}` };
}

function hostBitsAreZero(bytes: IpBytes, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return false;
  }
  return true;
}

/** True if `address` lies in `cidr` (same family only). */
export function cidrContains(cidr: Cidr, address: IpBytes): boolean {
  if (cidr.bytes.length !== address.length) return false;
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (cidr.bytes[i] !== address[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (cidr.bytes[whole]! & mask) === (address[whole]! & mask);
}

/**
 * Formats bytes back into text, for log lines and messages: IPv6 as RFC 5952 writes it (and as
 * the WHATWG URL parser does), the longest run of two or more zero groups as `::`.
 */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
  }
  const hex = (part: number[]): string => part.map((group) => group.toString(16)).join(':');
  if (best.start === -1) return hex(groups);
  return `${hex(groups.slice(0, best.start))}::${hex(groups.slice(best.start + best.length))}`;
}
