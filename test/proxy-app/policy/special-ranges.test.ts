import { describe, expect, it } from 'vitest';
import { parseIp } from '../../../proxy-app/src/policy/ip.js';
import { specialRange } from '../../../proxy-app/src/policy/special-ranges.js';

const rangeOf = (text: string): string | null => specialRange(parseIp(text)!);

describe('specialRange', () => {
  it.each([
    ['169.254.169.254', 'instance-metadata'],
    ['fd00:ec2::254', 'instance-metadata'],
    ['::ffff:169.254.169.254', 'instance-metadata'],
    ['::ffff:a9fe:a9fe', 'instance-metadata'],
    ['64:ff9b::a9fe:a9fe', 'instance-metadata'],
    ['2002:a9fe:a9fe::1', 'instance-metadata'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:10.1.2.3', 'private'],
    ['fd12:3456::1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['169.254.10.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'this-network'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.1', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['::', 'unspecified'],
  ])('%s is %s', (address, range) => {
    expect(rangeOf(address)).toBe(range);
  });

  it.each([
    '93.184.216.34',
    '172.32.0.1',
    '100.128.0.1',
    '2606:2800:220:1::1',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('%s is an ordinary internet address', (address) => {
    expect(rangeOf(address)).toBeNull();
  });
});
