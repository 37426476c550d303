/**
 * The command line without an AWS API behind it: usage errors (exit 2) and an endpoint that refuses
 * connections (exit 3, after the SDK's retries).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { buildBundle, removeBundle, runFleet } from './run.js';

beforeAll(() => buildBundle());
afterAll(() => removeBundle());

describe('fleet command line', () => {
  it.each([
    [[], 'missing command: status or policy'],
    [['status'], 'pass --stack NAME, or --asg NAME (with --target-group ARN)'],
    [['list', '--stack', 's'], "unknown command 'list'; the commands are: status, policy"],
    [['status', '--stack', 's', '--wait', '60'], '--wait goes with the policy command'],
    [['policy', '--stack', 's', '--wait', 'soon'], "--wait must be a whole number of seconds, got 'soon'"],
    [
      ['status', '--stack', 's', '--asg', 'g'],
      '--stack and --asg select the group two ways; pass one of them',
    ],
    [['status', '--stack'], "Option '--stack <value>' argument missing"],
    [['status', '--stack', 's', '--colour'], "Unknown option '--colour'"],
    [['status', '--stack', ''], '--stack must not be empty'],
    [
      ['status', '--asg', 'g', '--target-group', 'my-tg'],
      "--target-group must be a target group ARN (arn:...), got 'my-tg'",
    ],
    [['status', '--stack', 's', 'extra'], "unexpected argument 'extra'"],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const result = await runFleet(args);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`egress-proxy-fleet: ${message}`);
    expect(result.stderr).toContain('[FLEET_USAGE]');
    expect(result.stderr).toContain('Usage:');
    expect(result.stdout).toBe('');
  });

  it('reports a usage error as JSON on stdout with --json', async () => {
    const result = await runFleet(['status', '--json']);
    expect(result.status).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'FLEET_USAGE', exitStatus: 2 } });
  });

  it('prints help and exits 0', async () => {
    const result = await runFleet(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage:\n {2}egress-proxy-fleet status --stack NAME/);
  });

  it('asks for a region when none is configured (exit 2)', async () => {
    const result = await runFleet(['status', '--asg', 'g'], { env: { AWS_REGION: undefined } });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('[FLEET_REGION_MISSING]');
    expect(result.stderr).toContain('what to do: pass --region, or set AWS_REGION');
  });

  it('rejects a malformed region as a usage error (exit 2)', async () => {
    const result = await runFleet(['status', '--asg', 'g', '--region', 'us east 1']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /egress-proxy-fleet: invalid region: Region not accepted: .*\[FLEET_USAGE\]/,
    );
  });

  it('retries an unreachable endpoint with backoff, then exits 3 naming the call', async () => {
    // Nothing listens on a port just released; every attempt is refused.
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const result = await runFleet(['status', '--stack', 's'], { endpoint, via: 'tsx' });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(
      /^egress-proxy-fleet: autoscaling:DescribeAutoScalingGroups: AWS endpoint not reachable \(after 5 attempts\): .*ECONNREFUSED.* \[FLEET_AWS_UNREACHABLE\]$/m,
    );
    expect(result.stderr).toContain('what to do: check network access to the AWS API');
  });

  it('honours AWS_MAX_ATTEMPTS over its own default of 5', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const result = await runFleet(['status', '--stack', 's'], { endpoint, env: { AWS_MAX_ATTEMPTS: '2' } });
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('(after 2 attempts)');
  });
});
