/** How AWS failures are classified, and the table of codes and exit statuses scripts rely on. */
import { describe, expect, it } from 'vitest';
import { EXIT, FLEET_ERROR_CODES, FleetError, fromAwsError } from '../../fleet-cli/errors.js';
import { formatUptime } from '../../fleet-cli/table.js';

/** The shape the SDK throws: a named Error with `$metadata`. */
function sdkError(name: string, message: string, attempts = 1): Error {
  return Object.assign(new Error(message), {
    name,
    $metadata: { attempts, requestId: 'req-1', httpStatusCode: 400 },
  });
}

describe('fromAwsError', () => {
  it.each([
    ['AccessDenied', 'FLEET_AWS_ACCESS_DENIED'],
    // EC2 names a missing permission differently from the Query services.
    ['UnauthorizedOperation', 'FLEET_AWS_ACCESS_DENIED'],
    ['ExpiredToken', 'FLEET_AWS_CREDENTIALS'],
    ['CredentialsProviderError', 'FLEET_AWS_CREDENTIALS'],
    ['Throttling', 'FLEET_AWS_THROTTLED'],
    ['RequestLimitExceeded', 'FLEET_AWS_THROTTLED'],
    ['TimeoutError', 'FLEET_AWS_UNREACHABLE'],
    ['TargetGroupNotFoundException', 'FLEET_TARGET_GROUP_NOT_FOUND'],
    ['InternalFailure', 'FLEET_AWS_ERROR'],
  ])('%s becomes %s', (name, code) => {
    const err = fromAwsError('ec2:DescribeInstances', sdkError(name, 'AWS said no', 5));
    expect(err).toBeInstanceOf(FleetError);
    expect(err.code).toBe(code);
    expect(err.exitStatus).toBe(EXIT.aws);
    expect(err.call).toBe('ec2:DescribeInstances');
    expect(err.attempts).toBe(5);
    expect(err.message).toContain('AWS said no');
  });

  it('classifies a Node network error by its code', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
      $metadata: { attempts: 5 },
    });
    const err = fromAwsError('autoscaling:DescribeAutoScalingGroups', refused);
    expect(err.code).toBe('FLEET_AWS_UNREACHABLE');
    expect(err.message).toContain('(after 5 attempts)');
  });

  it('says which permission to add and lists them all', () => {
    const err = fromAwsError('elasticloadbalancing:DescribeTargetHealth', sdkError('AccessDenied', 'denied'));
    expect(err.hint).toBe(
      'allow elasticloadbalancing:DescribeTargetHealth for the caller; the command needs autoscaling:DescribeAutoScalingGroups, elasticloadbalancing:DescribeTargetHealth, ec2:DescribeInstances, and for a fleet with policy distribution appconfig:ListDeployments, logs:FilterLogEvents, with --workload-subnets ec2:DescribeSubnets, ec2:DescribeRouteTables (see docs/fleet-status.md)',
    );
  });

  it('passes a FleetError through unchanged', () => {
    const original = new FleetError('FLEET_GROUP_NOT_FOUND', 'gone');
    expect(fromAwsError('ec2:DescribeInstances', original)).toBe(original);
  });
});

describe('error codes', () => {
  it('map to the documented exit statuses', () => {
    expect(FLEET_ERROR_CODES).toEqual({
      FLEET_USAGE: 2,
      FLEET_REGION_MISSING: 2,
      FLEET_AMBIGUOUS: 2,
      FLEET_GROUP_NOT_FOUND: 3,
      FLEET_TARGET_GROUP_NOT_FOUND: 3,
      FLEET_NO_TARGET_GROUP: 3,
      FLEET_NO_POLICY: 3,
      FLEET_AWS_ACCESS_DENIED: 3,
      FLEET_AWS_CREDENTIALS: 3,
      FLEET_AWS_THROTTLED: 3,
      FLEET_AWS_UNREACHABLE: 3,
      FLEET_AWS_ERROR: 3,
    });
  });
});

describe('formatUptime', () => {
  it.each([
    [0, '0s'],
    [12, '12s'],
    [250, '4m 10s'],
    [3_725, '1h 2m'],
    [273_600, '3d 4h'],
  ])('%d s is %s', (seconds, text) => {
    expect(formatUptime(seconds)).toBe(text);
  });
});
