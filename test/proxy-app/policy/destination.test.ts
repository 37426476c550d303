import { describe, expect, it } from 'vitest';
import { parseAbsoluteUrl, parseAuthority } from '../../../proxy-app/src/policy/destination.js';

describe('parseAuthority (CONNECT targets)', () => {
  it.each([
    ['Example.COM.:443', 'example.com', 443, false],
    ['[::1]:8081', '::1', 8081, true],
    ['0x7f.1:80', '127.0.0.1', 80, true],
    ['2130706433:80', '127.0.0.1', 80, true],
    ['0177.0.0.1:80', '127.0.0.1', 80, true],
    ['127.1:80', '127.0.0.1', 80, true],
    ['[::ffff:a9fe:a9fe]:80', '::ffff:a9fe:a9fe', 80, true],
  ])('normalizes %s', (authority, host, port, isIp) => {
    const destination = parseAuthority(authority);
    expect(destination.host).toBe(host);
    expect(destination.port).toBe(port);
    expect(destination.ip !== null).toBe(isIp);
  });

  it.each([
    ['example.com', 'connect_missing_port'],
    ['example.com:', 'bad_destination'],
    ['example.com:99999', 'bad_destination'],
    ['user@example.com:443', 'bad_destination'],
    ['::1:443', 'bad_destination'],
    ['/path', 'bad_destination'],
    ['', 'bad_destination'],
  ])('refuses %j with %s', (authority, reason) => {
    expect(() => parseAuthority(authority)).toThrow(expect.objectContaining({ reason }));
  });
});

describe('parseAbsoluteUrl', () => {
  it('reads host, default port, path and authority', () => {
    expect(parseAbsoluteUrl('http://Example.com/a?b=1')).toMatchObject({
      destination: { host: 'example.com', port: 80, ip: null },
      path: '/a?b=1',
      authority: 'example.com',
    });
    expect(parseAbsoluteUrl('http://example.com:8080/').authority).toBe('example.com:8080');
  });

  it('keeps the path and query exactly as sent; only the authority is normalized', () => {
    expect(parseAbsoluteUrl('HTTP://EXAMPLE.com:80/a/../%2E%2e/b\\c//d?q=%7e+x&&')).toMatchObject({
      destination: { host: 'example.com', port: 80 },
      path: '/a/../%2E%2e/b\\c//d?q=%7e+x&&',
      authority: 'example.com',
    });
    expect(parseAbsoluteUrl('http://example.com?x=1').path).toBe('/?x=1');
    expect(parseAbsoluteUrl('http://example.com').path).toBe('/');
  });

  it.each([
    'http://user:pass@example.com/',
    'http://example.com/#top',
    'http:///x',
    'http://exa mple.com/',
    'x',
  ])('refuses %j as bad_destination', (target) => {
    expect(() => parseAbsoluteUrl(target)).toThrow(expect.objectContaining({ reason: 'bad_destination' }));
  });

  it('reads each target afresh when its authority was read before (path, query, refusals)', () => {
    expect(parseAbsoluteUrl('http://Seen.example:8080/a').path).toBe('/a');
    expect(parseAbsoluteUrl('http://Seen.example:8080?b').path).toBe('/?b');
    expect(parseAbsoluteUrl('http://Seen.example:8080').path).toBe('/');
    expect(parseAbsoluteUrl('http://Seen.example:8080/c').authority).toBe('seen.example:8080');
    expect(() => parseAbsoluteUrl('http://Seen.example:8080/#top')).toThrow(
      expect.objectContaining({ reason: 'bad_destination' }),
    );
    for (let i = 0; i < 2; i++) {
      expect(() => parseAbsoluteUrl('http://seen.example:99999/')).toThrow(
        expect.objectContaining({ reason: 'bad_destination' }),
      );
    }
  });

  it('refuses https:// and other schemes: HTTPS goes through CONNECT', () => {
    expect(() => parseAbsoluteUrl('https://example.com/')).toThrow(
      expect.objectContaining({ reason: 'unsupported_scheme' }),
    );
    expect(() => parseAbsoluteUrl('ftp://example.com/')).toThrow(
      expect.objectContaining({ reason: 'unsupported_scheme' }),
    );
  });
});
