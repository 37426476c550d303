import { Tokenization } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../proxy-app/src/config/index.js';
import { proxyUserData } from '../../lib/user-data.js';

const metrics = { namespace: 'EgressProxy/Test', logGroupName: 'metrics' };
/** A config whose JSON is about `bytes` long, from a long allowlist. */
const configOf = (bytes: number) => {
  const allow = Array.from(
    { length: Math.floor(bytes / 30) },
    (_, i) => `host-${String(i).padStart(5, '0')}.example.com`,
  );
  return parseConfig({ allow });
};

// EC2 rejects user data above 16 KB at launch, long after the deploy: the check is at synth.
describe('user data size', () => {
  it('accepts the script with the metric path and a config of a few KB', () => {
    const script = proxyUserData({ config: configOf(3_000), logGroupName: 'logs', metrics }).render();
    expect(Tokenization.isResolvable(script)).toBe(false);
    expect(Buffer.byteLength(script)).toBeLessThan(16 * 1024);
  });

  it('rejects a config that fits on its own but not with the rest of the script, naming the limit', () => {
    const config = configOf(11_000);
    expect(Buffer.byteLength(JSON.stringify(config, undefined, 2))).toBeLessThan(12 * 1024);
    expect(() => proxyUserData({ config, logGroupName: 'logs', metrics })).toThrow(
      /instance config makes user data about \d+ bytes; EC2 accepts at most 16384 \(shorten the allowlist\)/,
    );
  });
});
