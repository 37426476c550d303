/**
 * The fleet command's failures. Scripts match on `code` (stable) and on the exit status; the message
 * is for people and may change.
 */

/** Exit statuses; a pipeline gate tells "fleet unhealthy" (1) apart from "could not tell" (2, 3). */
export const EXIT = {
  ok: 0,
  belowMinimum: 1,
  usage: 2,
  aws: 3,
  /** Some InService instance has not applied the policy AppConfig serves within the grace period. */
  policyLagging: 4,
} as const;

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** Every code this command reports, with the exit status it maps to. */
export const FLEET_ERROR_CODES = {
  /** The command line is wrong (unknown option, missing or conflicting selectors). */
  FLEET_USAGE: EXIT.usage,
  /** No region configured: the command line has to name one. */
  FLEET_REGION_MISSING: EXIT.usage,
  /** The stack has several Auto Scaling groups, or the group several target groups: name one. */
  FLEET_AMBIGUOUS: EXIT.usage,
  /** No Auto Scaling group with that name, or none tagged with that stack name. */
  FLEET_GROUP_NOT_FOUND: EXIT.aws,
  /** The target group does not exist (or the ARN is malformed). */
  FLEET_TARGET_GROUP_NOT_FOUND: EXIT.aws,
  /** The group has no target group attached and none was given. */
  FLEET_NO_TARGET_GROUP: EXIT.aws,
  /** `policy` on a group the stack did not tag with its policy locations. */
  FLEET_NO_POLICY: EXIT.aws,
  /** The caller lacks an IAM permission; not retried, since waiting does not grant it. */
  FLEET_AWS_ACCESS_DENIED: EXIT.aws,
  /** No usable credentials, or AWS rejected them (expired, unknown key, bad signature). */
  FLEET_AWS_CREDENTIALS: EXIT.aws,
  /** Still throttled after the SDK's retries. */
  FLEET_AWS_THROTTLED: EXIT.aws,
  /** The endpoint could not be reached (DNS, connection refused, timeout) after the SDK's retries. */
  FLEET_AWS_UNREACHABLE: EXIT.aws,
  /** Any other error answer from AWS. */
  FLEET_AWS_ERROR: EXIT.aws,
} as const satisfies Record<string, ExitStatus>;

export type FleetErrorCode = keyof typeof FLEET_ERROR_CODES;

export interface FleetErrorDetails {
  /** The AWS call that failed, as an IAM action (`ec2:DescribeInstances`). */
  readonly call?: string;
  /** What to do about it. */
  readonly hint?: string;
  /** The AWS error name (`AccessDenied`, `Throttling`, `ECONNREFUSED`). */
  readonly awsError?: string;
  /** How many attempts the SDK made, retries included. */
  readonly attempts?: number;
  readonly requestId?: string;
  readonly cause?: unknown;
}

export class FleetError extends Error {
  readonly exitStatus: ExitStatus;
  readonly call: string | undefined;
  readonly hint: string | undefined;
  readonly awsError: string | undefined;
  readonly attempts: number | undefined;
  readonly requestId: string | undefined;

  constructor(
    readonly code: FleetErrorCode,
    message: string,
    details: FleetErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FleetError';
    this.exitStatus = FLEET_ERROR_CODES[code];
    this.call = details.call;
    this.hint = details.hint;
    this.awsError = details.awsError;
    this.attempts = details.attempts;
    this.requestId = details.requestId;
  }

  /** The machine-readable form printed with `--json`. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      exitStatus: this.exitStatus,
      call: this.call,
      awsError: this.awsError,
      attempts: this.attempts,
      requestId: this.requestId,
      hint: this.hint,
    };
  }
}

/** The IAM actions the command uses, in call order; the access-denied hint and the docs list them. */
export const REQUIRED_ACTIONS = [
  'autoscaling:DescribeAutoScalingGroups',
  'elasticloadbalancing:DescribeTargetHealth',
  'ec2:DescribeInstances',
] as const;

/** Called only for a group the stack tagged with its policy locations (see policy.ts). */
export const POLICY_ACTIONS = ['appconfig:ListDeployments', 'logs:FilterLogEvents'] as const;

/** Called only with `--workload-subnets`. */
export const WORKLOAD_SUBNET_ACTIONS = ['ec2:DescribeSubnets', 'ec2:DescribeRouteTables'] as const;

export type AwsAction =
  | (typeof REQUIRED_ACTIONS)[number]
  | (typeof POLICY_ACTIONS)[number]
  | (typeof WORKLOAD_SUBNET_ACTIONS)[number];

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);
const BAD_CREDENTIALS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'AuthFailure',
  'InvalidAccessKeyId',
]);
const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'TimeoutError',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { attempts?: number; requestId?: string; httpStatusCode?: number };
}

/**
 * Turns whatever an SDK call threw into a FleetError that says which call failed, what AWS said
 * and what to do. The SDK has already retried what is worth retrying by the time this runs.
 */
export function fromAwsError(call: AwsAction, err: unknown): FleetError {
  if (err instanceof FleetError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const nodeCode = typeof e.code === 'string' ? e.code : undefined;
  const said = typeof e.message === 'string' && e.message ? e.message : String(err);
  const attempts = e.$metadata?.attempts;
  const details = {
    call,
    awsError: nodeCode ?? name,
    attempts,
    requestId: e.$metadata?.requestId,
    cause: err,
  };
  const afterAttempts = attempts && attempts > 1 ? ` (after ${attempts} attempts)` : '';

  if (/region is missing/i.test(said)) {
    return new FleetError('FLEET_REGION_MISSING', `${call}: no AWS region configured`, {
      ...details,
      hint: 'pass --region, or set AWS_REGION',
    });
  }
  if (/region not accepted/i.test(said)) {
    return new FleetError('FLEET_USAGE', `invalid region: ${said}`, details);
  }
  if (ACCESS_DENIED.has(name)) {
    return new FleetError('FLEET_AWS_ACCESS_DENIED', `${call} was denied: ${said}`, {
      ...details,
      hint: `allow ${call} for the caller; the command needs ${REQUIRED_ACTIONS.join(', ')}, and for a fleet with policy distribution ${POLICY_ACTIONS.join(', ')}, with --workload-subnets ${WORKLOAD_SUBNET_ACTIONS.join(', ')} (see docs/fleet-status.md)`,
    });
  }
  if (BAD_CREDENTIALS.has(name)) {
    return new FleetError('FLEET_AWS_CREDENTIALS', `${call}: credentials missing or rejected: ${said}`, {
      ...details,
      hint: 'check AWS_PROFILE / AWS_ACCESS_KEY_ID, or refresh the session (aws sso login)',
    });
  }
  if (THROTTLED.has(name)) {
    return new FleetError('FLEET_AWS_THROTTLED', `${call} was throttled${afterAttempts}: ${said}`, {
      ...details,
      hint: 'run the command again later; other clients in the account are using the API rate',
    });
  }
  if (NETWORK.has(name) || (nodeCode !== undefined && NETWORK.has(nodeCode))) {
    return new FleetError(
      'FLEET_AWS_UNREACHABLE',
      `${call}: AWS endpoint not reachable${afterAttempts}: ${said}`,
      {
        ...details,
        hint: 'check network access to the AWS API, the region, and AWS_ENDPOINT_URL if set',
      },
    );
  }
  if (name === 'TargetGroupNotFoundException' || name === 'TargetGroupNotFound') {
    return new FleetError('FLEET_TARGET_GROUP_NOT_FOUND', `${call}: target group not found: ${said}`, {
      ...details,
      hint: 'check --target-group (the full ARN) and --region',
    });
  }
  return new FleetError('FLEET_AWS_ERROR', `${call} failed${afterAttempts}: ${name}: ${said}`, details);
}
