import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { policyDocument } from '../../lib/instance-config.js';
import { PolicyDistribution } from '../../lib/policy-distribution.js';
import { DEFAULT_SETTINGS, settingsFromContext } from '../../lib/settings.js';
import { validateTimingChain, type TimingInputs } from '../../lib/timing.js';
import { buildApp } from './helpers.js';

const fromContext = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);
const allow = { 'egressProxy:allow': ['example.com'] };

describe('settings from context', () => {
  it('applies the documented defaults', () => {
    expect(fromContext(allow)).toMatchObject({ ...DEFAULT_SETTINGS, allow: ['example.com'] });
  });

  it('accepts command-line strings for numbers and lists', () => {
    const s = fromContext({
      'egressProxy:allow': 'a.example, b.example',
      'egressProxy:minCapacity': '3',
      'egressProxy:maxCapacity': '5',
    });
    expect(s).toMatchObject({ allow: ['a.example', 'b.example'], minCapacity: 3, maxCapacity: 5 });
  });

  it.each([
    [{}, /context "egressProxy:allow" is required/],
    [
      { ...allow, 'egressProxy:proxyPort': 80 },
      /egressProxy:proxyPort" must be an integer from 1024 to 65535, got number 80/,
    ],
    [
      { ...allow, 'egressProxy:architecture': 'sparc' },
      /egressProxy:architecture" must be one of arm64, x86_64, got "sparc"/,
    ],
    [
      { ...allow, 'egressProxy:healthCheckIntervalSeconds': 1 },
      /healthCheckIntervalSeconds" must be an integer from 5 to 300/,
    ],
    [{ ...allow, 'egressProxy:clientCidrs': ['10.0.0.0/33'] }, /clientCidrs\[0\]" must be an IPv4 CIDR/],
    [
      { ...allow, 'egressProxy:minCapacity': 5, 'egressProxy:maxCapacity': 2 },
      /minCapacity" \(5\) must not exceed/,
    ],
    [{ ...allow, 'egressProxy:desiredCapacity': 9 }, /desiredCapacity" \(9\) must be between/],
    [{ ...allow, 'egressProxy:vpcId': 'my-vpc' }, /vpcId" must be a VPC id/],
  ])('rejects %j', (context, message) => {
    expect(() => fromContext(context)).toThrow(message);
  });
});

describe('instance config', () => {
  it('is validated by proxy-app parsePolicyDocument, so a bad allowlist fails at synth with its message', () => {
    const settings = { ...fromContext(allow), allow: ['exa mple.com'] };
    const stack = new Stack();
    expect(() => new PolicyDistribution(stack, 'Policy', { policy: policyDocument(settings) })).toThrow(
      /Policy: policy is invalid: config key "allow\[0\]"/,
    );
  });

  it('fails the whole app on a bad allowlist from context', () => {
    expect(() => buildApp({ 'egressProxy:allow': ['http://example.com/path'] })).toThrow(
      /config key "allow\[0\]"/,
    );
  });

  it('rejects a health port equal to the proxy port', () => {
    expect(() => buildApp({ 'egressProxy:healthPort': 3128 })).toThrow(/health.port/);
  });
});

describe('timing chain', () => {
  const ok: TimingInputs = {
    probeTimeoutSeconds: 2,
    healthCheckTimeoutSeconds: 5,
    healthCheckIntervalSeconds: 10,
    healthyThresholdCount: 2,
    unhealthyThresholdCount: 2,
    drainSeconds: 30,
    deregistrationDelaySeconds: 45,
    healthCheckGracePeriodSeconds: 120,
  };

  it('returns detection and replacement estimates', () => {
    const t = validateTimingChain(ok);
    expect(t.detectionSeconds).toBe(20);
    expect(t.replacementInServiceSeconds).toBeGreaterThan(t.detectionSeconds);
  });

  it.each<[Partial<TimingInputs>, RegExp]>([
    [
      { probeTimeoutSeconds: 5 },
      /healthCheckTimeout \(5 s\) must be longer than the sidecar's probe timeout/,
    ],
    [
      { healthCheckTimeoutSeconds: 10 },
      /healthCheckTimeout \(10 s\) must be shorter than healthCheckInterval/,
    ],
    [{ drainSeconds: 45 }, /deregistrationDelay \(45 s\) must be longer than the proxy's drain time/],
    [
      { terminatingHookTimeoutSeconds: 45 },
      /terminatingHookTimeout \(45 s\) must be longer than deregistrationDelay/,
    ],
    [
      { healthCheckGracePeriodSeconds: 20 },
      /healthCheckGracePeriod \(20 s\) must be longer than the detection time/,
    ],
  ])('rejects %j', (change, message) => {
    expect(() => validateTimingChain({ ...ok, ...change })).toThrow(message);
  });

  it('is enforced when the stack is built from context', () => {
    expect(() => buildApp({ 'egressProxy:probeTimeoutMs': 6000 })).toThrow(
      /EgressProxy\/Fleet: healthCheckTimeout \(5 s\) must be longer than the sidecar's probe timeout/,
    );
    expect(() => buildApp({ 'egressProxy:deregistrationDelaySeconds': 20 })).toThrow(
      /deregistrationDelay \(20 s\)/,
    );
  });

  it('rejects an instance type of the wrong architecture', () => {
    expect(() => buildApp({ 'egressProxy:instanceType': 'm7i.large' })).toThrow(
      /instanceType \(m7i.large\) is x86_64 but architecture is arm64/,
    );
  });
});
