/** Stable codes for what can go wrong on the way from a deployed policy to the proxy. */
export type PolicyProblemCode =
  /** The document is not JSON, or parsePolicyDocument refused it; the policy in force stays. */
  | 'EGRESS_POLICY_INVALID'
  /** AppConfig (or the boot parameter) did not answer; the policy in force stays. */
  | 'EGRESS_POLICY_UNREACHABLE'
  /** The proxy refused the reload (its own config no longer loads); the file is put back. */
  | 'EGRESS_POLICY_RELOAD_REFUSED'
  /** The proxy's control endpoint did not answer; the file is written, the reload is retried. */
  | 'EGRESS_POLICY_PROXY_UNREACHABLE'
  /** The reload was accepted but the workers did not all report the new version in time. */
  | 'EGRESS_POLICY_NOT_CONFIRMED'
  /** The policy file could not be written (or put back); the policy in force stays. */
  | 'EGRESS_POLICY_WRITE_FAILED'
  /** A bug in the agent; reported like the others, and the next round goes ahead. */
  | 'EGRESS_POLICY_AGENT_FAILED';

/** One failure of the policy agent; logged with its code, shown in /healthcheck, never fatal. */
export class PolicyAgentError extends Error {
  constructor(
    readonly code: PolicyProblemCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PolicyAgentError';
  }
}

/** An AWS SDK or network error in one line: the HTTP status if any, the error's name and message. */
export function describeAwsError(error: unknown): string {
  const { name, message, code, $metadata } = error as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode ? `HTTP ${$metadata.httpStatusCode}` : undefined;
  return [status, code ?? name, message].filter(Boolean).join(': ') || String(error);
}
