import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULTS,
  parseConfig,
  parsePolicyDocument,
} from '../../../proxy-app/src/config/index.js';

const keyOf = (raw: unknown): string => {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).key;
  }
  throw new Error('expected a ConfigError');
};

describe('parseConfig', () => {
  it('fills every default when only allow is given, and freezes the result', () => {
    const config = parseConfig({ allow: ['example.com'] });
    expect(config).toEqual({ ...DEFAULTS, allow: ['example.com'] });
    expect(Object.isFrozen(config.timeouts)).toBe(true);
    expect(() => (config.allow as string[]).push('x')).toThrow();
  });

  it('accepts the documented example', () => {
    const config = parseConfig({
      proxy: { host: '0.0.0.0', port: 3128 },
      health: { host: '0.0.0.0', port: 8081 },
      allow: ['example.com', '*.github.com', 'api.stripe.com:443'],
      allowPorts: [80, 443],
      allowCidrs: [],
      timeouts: { connectMs: 5000, idleMs: 300000, headersMs: 10000, drainMs: 30000 },
      limits: { maxConnections: 50000, maxHeaderBytes: 16384 },
      probe: { timeoutMs: 2000, cacheMs: 1000 },
      log: { level: 'info' },
    });
    expect(config.allow).toHaveLength(3);
  });

  it.each([
    [{}, 'allow'],
    [[], ''],
    [{ allow: 'example.com' }, 'allow'],
    [{ allow: ['example.com'], colour: 'blue' }, 'colour'],
    [{ allow: ['example.com'], proxy: { port: 3128, hots: '0.0.0.0' } }, 'proxy.hots'],
    [{ allow: ['example.com'], proxy: { port: 70000 } }, 'proxy.port'],
    [{ allow: ['example.com'], proxy: { port: '3128' } }, 'proxy.port'],
    [{ allow: ['example.com'], proxy: { host: 'localhost' } }, 'proxy.host'],
    [{ allow: ['example.com'], proxy: { host: '10.0.0.5' } }, 'proxy.host'],
    [{ allow: ['example.com'], proxy: { workers: 0 } }, 'proxy.workers'],
    [{ allow: ['example.com', '*.*.com'] }, 'allow[1]'],
    [{ allow: ['example.com', 42] }, 'allow[1]'],
    [{ allow: ['example.com'], allowPorts: [443, 0] }, 'allowPorts[1]'],
    [{ allow: ['example.com'], allowCidrs: ['10.0.0.1/8'] }, 'allowCidrs[0]'],
    [{ allow: ['example.com'], timeouts: { connectMs: -1 } }, 'timeouts.connectMs'],
    [{ allow: ['example.com'], timeouts: { idleMs: 1.5 } }, 'timeouts.idleMs'],
    [{ allow: ['example.com'], limits: null }, 'limits'],
    [{ allow: ['example.com'], limits: { maxHeaderBytes: 10 } }, 'limits.maxHeaderBytes'],
    [{ allow: ['example.com'], probe: { timeoutMs: true } }, 'probe.timeoutMs'],
    [{ allow: ['example.com'], log: { level: 'verbose' } }, 'log.level'],
    [{ allow: ['example.com'], log: { maxBufferBytes: 1024 } }, 'log.maxBufferBytes'],
    [{ allow: ['example.com'], proxy: { forwardedFor: 'keep' } }, 'proxy.forwardedFor'],
    [{ allow: ['example.com'], dns: { negativeCacheMs: -1 } }, 'dns.negativeCacheMs'],
    [{ allow: ['example.com'], metrics: { host: '0.0.0.0' } }, 'metrics.host'],
    [{ allow: ['example.com'], health: { port: 3128 } }, 'proxy.port'],
    [{ allow: ['example.com'], policy: { fiel: '/p.json' } }, 'policy.fiel'],
    [{ allow: ['example.com'], policy: { file: 'p.json' } }, 'policy.file'],
    [{ allow: ['example.com'], policy: { bootParameter: '/egress/policy' } }, 'policy.file'],
    [{ allow: ['example.com'], policy: { file: '/p.json', appConfig: {} } }, 'policy.appConfig.application'],
    [
      {
        allow: ['example.com'],
        policy: {
          file: '/p.json',
          appConfig: { application: 'a', environment: 'e', profile: 'p', pollIntervalSeconds: 5 },
        },
      },
      'policy.appConfig.pollIntervalSeconds',
    ],
    [
      {
        allow: ['example.com'],
        policy: {
          file: '/p.json',
          appConfig: { application: 'a', environment: 'e', profile: 'p', region: 'x' },
        },
      },
      'policy.appConfig.region',
    ],
    [{ allow: ['example.com'], policy: { file: '/p.json', bootWaitMs: -1 } }, 'policy.bootWaitMs'],
  ])('rejects %j naming %j', (raw, key) => {
    expect(keyOf(raw)).toBe(key);
  });

  it('says what is wrong and with which value', () => {
    expect(() => parseConfig({ allow: ['x.com'], proxy: { port: 70000 } })).toThrow(
      'config key "proxy.port": must be an integer from 1 to 65535, got number 70000',
    );
    expect(() => parseConfig({ allow: ['x.com'], colour: 1 })).toThrow(
      /is not a known setting \(known here: proxy, health/,
    );
  });
});

describe('policy settings', () => {
  it("take AppConfig ids, the boot parameter and the file, with AppConfig's minimum poll interval by default", () => {
    const config = parseConfig({
      allow: [],
      policy: {
        file: '/var/lib/egress-proxy/policy.json',
        appConfig: { application: 'app1234', environment: 'env1234', profile: 'prof123' },
        bootParameter: '/egress-proxy/boot-policy',
      },
    });
    expect(config.policy).toEqual({
      ...DEFAULTS.policy,
      file: '/var/lib/egress-proxy/policy.json',
      appConfig: {
        application: 'app1234',
        environment: 'env1234',
        profile: 'prof123',
        pollIntervalSeconds: 15,
      },
      bootParameter: '/egress-proxy/boot-policy',
    });
  });
});

describe('parsePolicyDocument', () => {
  it('takes the three policy keys, with the defaults for absent lists', () => {
    expect(parsePolicyDocument({ allow: ['example.com'] })).toEqual({
      allow: ['example.com'],
      allowPorts: DEFAULTS.allowPorts,
      allowCidrs: DEFAULTS.allowCidrs,
    });
  });

  it.each([
    [{ allow: ['example.com'], proxy: { port: 1 } }, 'proxy'],
    [{ allowPorts: [443] }, 'allow'],
    [{ allow: ['example.com'], allowPorts: [443, 65536] }, 'allowPorts[1]'],
    ['{"allow": []}', ''],
  ])('rejects %j naming %j', (raw, key) => {
    let error: unknown;
    try {
      parsePolicyDocument(raw);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe(key);
  });
});
