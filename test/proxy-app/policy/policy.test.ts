import { describe, expect, it } from 'vitest';
import { parseIp } from '../../../proxy-app/src/policy/ip.js';
import { Policy } from '../../../proxy-app/src/policy/policy.js';
import { parseAuthority } from '../../../proxy-app/src/policy/destination.js';

const policy = new Policy({
  allow: ['example.com', '*.internal.example.com'],
  allowPorts: [80, 443],
  allowCidrs: ['10.20.0.0/16'],
  health: { host: '0.0.0.0', port: 8081 },
});
const loopbackClient = parseIp('127.0.0.1');
const vpcClient = parseIp('10.0.3.4');
const decide = (authority: string, client = vpcClient): string | null =>
  policy.checkDestination(parseAuthority(authority), client)?.reason ?? null;
const checkAddress = (authority: string, address: string): string | null =>
  policy.checkAddress(parseAuthority(authority), parseIp(address)!)?.reason ?? null;

describe('Policy.checkDestination', () => {
  it('allows listed names on allowed ports and denies everything else', () => {
    expect(decide('example.com:443')).toBeNull();
    expect(decide('example.org:443')).toBe('host_not_allowed');
    expect(decide('example.com:8080')).toBe('port_not_allowed');
  });

  it('denies IP literals unless inside allowCidrs, which needs no allow pattern', () => {
    expect(decide('169.254.169.254:80')).toBe('ip_literal_not_allowed');
    expect(decide('[fd00:ec2::254]:80')).toBe('ip_literal_not_allowed');
    expect(decide('93.184.216.34:443')).toBe('ip_literal_not_allowed');
    expect(decide('10.20.1.1:443')).toBeNull();
    expect(decide('[::ffff:10.20.1.1]:443')).toBeNull();
    expect(decide('10.20.1.1:22')).toBe('port_not_allowed');
  });

  it('lets only loopback clients reach the probe target', () => {
    expect(decide('127.0.0.1:8081', loopbackClient)).toBeNull();
    expect(decide('localhost:8081', loopbackClient)).toBeNull();
    expect(decide('[::1]:8081', parseIp('::ffff:127.0.0.1'))).toBeNull();
    expect(decide('127.0.0.1:8081', vpcClient)).toBe('probe_target_remote_client');
    expect(decide('127.0.0.1:8082', loopbackClient)).toBe('ip_literal_not_allowed');
  });
});

describe('Policy.checkAddress (SSRF guard)', () => {
  it('refuses resolved addresses in special ranges unless inside allowCidrs', () => {
    expect(checkAddress('example.com:443', '93.184.216.34')).toBeNull();
    expect(checkAddress('example.com:443', '169.254.169.254')).toBe('address_blocked');
    expect(checkAddress('example.com:443', '::ffff:127.0.0.1')).toBe('address_blocked');
    expect(checkAddress('example.com:443', '10.1.1.1')).toBe('address_blocked');
    expect(checkAddress('api.internal.example.com:443', '10.20.3.3')).toBeNull();
  });

  it('names the address and its range for the log only; the client is told the name and the rule', () => {
    const denial = policy.checkAddress(parseAuthority('example.com:80'), parseIp('169.254.169.254')!);
    expect(denial?.detail).toMatch(/169\.254\.169\.254 \(instance-metadata\)/);
    expect(denial?.message).toMatch(/^example\.com resolves to /);
    expect(denial?.message).not.toMatch(/169\.254|metadata/);
  });

  it('changes version only when the policy changes, not its order', () => {
    const same = new Policy({
      allow: ['*.internal.example.com', 'EXAMPLE.com'],
      allowPorts: [443, 80],
      allowCidrs: ['10.20.0.0/16'],
      health: { host: '0.0.0.0', port: 8081 },
    });
    const other = new Policy({
      allow: ['example.com'],
      allowPorts: [443],
      allowCidrs: [],
      health: { host: '0.0.0.0', port: 8081 },
    });
    expect(same.version).toBe(policy.version);
    expect(other.version).not.toBe(policy.version);
    expect(policy.version).toMatch(/^[0-9a-f]{12}$/);
  });
});
