import { describe, expect, it } from 'vitest';
import { Allowlist, parseAllowPattern } from '../../../proxy-app/src/policy/patterns.js';

const allowlist = (patterns: string[], ports = [80, 443]): Allowlist =>
  new Allowlist(patterns.map(parseAllowPattern), new Set(ports));

describe('Allowlist', () => {
  const list = allowlist([
    'example.com',
    '*.github.com',
    'api.stripe.com:443',
    'Mixed.Case.ORG.',
    'ssh.example.net:22',
  ]);

  it('matches a plain name exactly, not its subdomains', () => {
    expect(list.match('example.com', 443)).toBe('allowed');
    expect(list.match('www.example.com', 443)).toBe('host_not_allowed');
    expect(list.match('notexample.com', 443)).toBe('host_not_allowed');
  });

  it('matches a wildcard at any depth, never the apex', () => {
    expect(list.match('api.github.com', 443)).toBe('allowed');
    expect(list.match('a.b.c.github.com', 80)).toBe('allowed');
    expect(list.match('github.com', 443)).toBe('host_not_allowed');
    expect(list.match('evilgithub.com', 443)).toBe('host_not_allowed');
  });

  it('is case-insensitive and ignores a trailing dot in patterns', () => {
    expect(list.match('mixed.case.org', 443)).toBe('allowed');
  });

  it('uses the pattern port instead of allowPorts when one is given', () => {
    expect(list.match('api.stripe.com', 443)).toBe('allowed');
    expect(list.match('api.stripe.com', 80)).toBe('port_not_allowed');
    expect(list.match('ssh.example.net', 22)).toBe('allowed');
    expect(list.match('example.com', 22)).toBe('port_not_allowed');
  });

  it('unions overlapping patterns', () => {
    const both = allowlist(['a.example.com:8443', '*.example.com']);
    expect(both.match('a.example.com', 8443)).toBe('allowed');
    expect(both.match('a.example.com', 443)).toBe('allowed');
  });
});

describe('parseAllowPattern', () => {
  it.each([
    ['10.0.0.1', /allowCidrs/],
    ['*', /not a host pattern|not a valid host name/],
    ['*.com', /top-level domain/],
    ['foo.*.com', /not a valid host name/],
    ['exa mple.com', /not a valid host name/],
    ['-bad.com', /not a valid host name/],
    ['example.com:0', /port/],
    ['example.com:70000', /port/],
    ['bücher.de', /punycode/],
    ['http://example.com', /not a host pattern|not a valid host name/],
  ])('rejects %j', (text, message) => {
    expect(() => parseAllowPattern(text)).toThrow(message);
  });
});
