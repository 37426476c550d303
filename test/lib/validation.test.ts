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
    [{ ...allow, 'egressProxy:maxDrainSeconds': 3601 }, /maxDrainSeconds" must be an integer from 0 to 3600/],
    [{ ...allow, 'egressProxy:interfaceEndpoints': 'yes' }, /interfaceEndpoints" must be true or false/],
    [
      { ...allow, 'egressProxy:minCapcity': 3 },
      /context "egressProxy:minCapcity" is not a known setting; known: egressProxy:allow, .*egressProxy:minCapacity, /,
    ],
    [
      { ...allow, 'egressProxy:deregistrationDelaySeconds': 45, 'egressProxy:drainMs': 1000 },
      /context "egressProxy:deregistrationDelaySeconds" is not a known setting \(nor egressProxy:drainMs\)/,
    ],
  ])('rejects %j', (context, message) => {
    expect(() => fromContext(context)).toThrow(message);
  });

  it('ignores context that is not ours (CDK feature flags, other apps)', () => {
    expect(
      fromContext({ ...allow, '@aws-cdk/core:stackRelativeExports': true, 'other:key': 1 }).allow,
    ).toEqual(['example.com']);
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
    healthCheckGracePeriodSeconds: 120,
    maxDrainSeconds: 300,
    drainIdleSeconds: 5,
    targetHealthPollSeconds: 10,
    terminatingHookTimeoutSeconds: 360,
    heartbeatSeconds: 60,
  };

  it('returns the estimates and the drain: the deregistration delay is the bound, the proxy closes before it', () => {
    const t = validateTimingChain(ok);
    expect(t.detectionSeconds).toBe(20);
    expect(t.replacementInServiceSeconds).toBeGreaterThan(t.detectionSeconds);
    expect(t.deregistrationDelaySeconds).toBe(300);
    // The sidecar learns of a deregistration within one poll and one call.
    expect(t.noticeSeconds).toBe(15);
    expect(t.proxyDrainSeconds).toBe(285);
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
    [
      { healthCheckGracePeriodSeconds: 20 },
      /healthCheckGracePeriod \(20 s\) must be longer than the detection time/,
    ],
    [
      { maxDrainSeconds: 3601 },
      /maxDrain \(3601 s\) is the target group's deregistration delay, which is at most 3600 s/,
    ],
    [
      { maxDrainSeconds: 20 },
      /maxDrain \(20 s\) must exceed the time the sidecar may take to learn of a deregistration/,
    ],
    [
      { terminatingHookTimeoutSeconds: 300 },
      /terminatingHookTimeout \(300 s\) must be longer than maxDrain \(300 s\) plus the sidecar's notice time \(15 s\)/,
    ],
    [{ terminatingHookTimeoutSeconds: 7201 }, /terminatingHookTimeout \(7201 s\) must be 30-7200 s/],
    [
      { maxDrainSeconds: 30, terminatingHookTimeoutSeconds: 50, heartbeatSeconds: 60 },
      /terminatingHookTimeout \(50 s\) must be longer than the sidecar's heartbeat interval/,
    ],
  ])('rejects %j', (change, message) => {
    expect(() => validateTimingChain({ ...ok, ...change })).toThrow(message);
  });

  it('is enforced when the stack is built from context', () => {
    expect(() => buildApp({ 'egressProxy:probeTimeoutMs': 6000 })).toThrow(
      /EgressProxy\/Fleet: healthCheckTimeout \(5 s\) must be longer than the sidecar's probe timeout/,
    );
    expect(() => buildApp({ 'egressProxy:maxDrainSeconds': 10 })).toThrow(/maxDrain \(10 s\) must exceed/);
  });

  it('rejects an instance type of the wrong architecture', () => {
    expect(() => buildApp({ 'egressProxy:instanceType': 'm7i.large' })).toThrow(
      /instanceType \(m7i.large\) is x86_64 but architecture is arm64/,
    );
  });
});
