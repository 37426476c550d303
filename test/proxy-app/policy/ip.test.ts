import { describe, expect, it } from 'vitest';
import { cidrContains, formatIp, parseCidr, parseIp } from '../../../proxy-app/src/policy/ip.js';

describe('parseIp', () => {
  it.each([
    ['10.1.2.3', [10, 1, 2, 3]],
    ['::1', [...new Array(15).fill(0), 1]],
    ['::ffff:169.254.169.254', [...new Array(10).fill(0), 0xff, 0xff, 169, 254, 169, 254]],
    ['fd00:ec2::254', [0xfd, 0, 0x0e, 0xc2, ...new Array(10).fill(0), 0x02, 0x54]],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
  ])('reads %s', (text, bytes) => {
    expect([...parseIp(text)!]).toEqual(bytes);
  });

  it.each(['example.com', '127.1', '0x7f.0.0.1', '256.0.0.1', 'fe80::1%eth0', ''])('refuses %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  it('formats both families back', () => {
    expect(formatIp(parseIp('192.168.0.1')!)).toBe('192.168.0.1');
    expect(formatIp(parseIp('fd00:ec2:0:0:0:0:0:254')!)).toBe('fd00:ec2::254');
  });
});

describe('parseCidr', () => {
  it('checks containment at any prefix length', () => {
    const cidr = parseCidr('10.128.0.0/9');
    expect(cidrContains(cidr, parseIp('10.200.1.1')!)).toBe(true);
    expect(cidrContains(cidr, parseIp('10.127.255.255')!)).toBe(false);
    expect(cidrContains(parseCidr('fc00::/7'), parseIp('fd12::1')!)).toBe(true);
    expect(cidrContains(parseCidr('fc00::/7'), parseIp('10.0.0.1')!)).toBe(false);
  });

  it('treats a bare address as a single host', () => {
    expect(parseCidr('192.0.2.7').prefix).toBe(32);
  });

  it.each([
    ['10.0.0.0/33', /prefix length/],
    ['10.0.0.1/8', /bits set after the prefix/],
    ['example.com/8', /not an IP address/],
    ['10.0.0.0/x', /prefix length/],
  ])('rejects %s', (text, message) => {
    expect(() => parseCidr(text)).toThrow(message);
  });
});

describe('parseIp and formatIp agree with the WHATWG URL parser (Node) on every IPv6 spelling', () => {
  const canonical = (text: string): string => new URL(`http://[${text}]/`).hostname.slice(1, -1);
  it.each([
    '::',
    '::1',
    '1::',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8',
    '0:0:0:0:0:0:0:1',
    '0000:0000:0000:0000:0000:0000:0000:0001',
    'FFFF::1',
    'fd00:ec2:0:0:0:0:0:254',
    '1:0:0:2:0:0:0:3',
    '1:0:0:0:2:0:0:3',
    '1:0:2:0:3:0:4:0',
    '0:1:0:0:0:0:1:0',
    '2001:db8::1:0:0:1',
    '0:0:0:0:0:ffff:8.8.8.8',
    '::ffff:8.8.8.8',
    '::ffff:169.254.169.254',
    '0:0:0:0:0:0:1.2.3.4',
    '::1.2.3.4',
    '1:2:3:4:5:6:1.2.3.4',
    '1::5:6:1.2.3.4',
    '64:ff9b::192.0.2.33',
    '::ffff:0:0',
  ])('%s', (text) => {
    const bytes = parseIp(text);
    expect(bytes).not.toBeNull();
    expect(formatIp(bytes!)).toBe(canonical(text));
    expect([...parseIp(canonical(text))!]).toEqual([...bytes!]);
  });
});
