import { DestinationSyntaxError } from '../policy/destination.js';
import type { Denial } from '../policy/policy.js';

/**
 * Every reason the proxy answers with something other than the upstream's response: the HTTP
 * status, and the RFC 9209 Proxy-Status error type clients and tools already understand.
 */
export const REASONS = {
  host_not_allowed: [403, 'http_request_denied'],
  port_not_allowed: [403, 'http_request_denied'],
  ip_literal_not_allowed: [403, 'destination_ip_prohibited'],
  address_blocked: [403, 'destination_ip_prohibited'],
  probe_target_remote_client: [403, 'http_request_denied'],
  bad_destination: [400, 'http_request_error'],
  connect_missing_port: [400, 'http_request_error'],
  unsupported_scheme: [400, 'http_request_error'],
  origin_form: [400, 'http_request_error'],
  ambiguous_framing: [400, 'http_request_error'],
  bad_request: [400, 'http_request_error'],
  headers_timeout: [408, 'http_request_error'],
  headers_too_large: [431, 'http_request_error'],
  name_not_found: [502, 'destination_not_found'],
  dns_error: [502, 'dns_error'],
  dns_timeout: [504, 'dns_timeout'],
  dns_busy: [503, 'dns_timeout'],
  upstream_unreachable: [502, 'destination_unavailable'],
  upstream_closed: [502, 'connection_terminated'],
  upstream_bad_response: [502, 'http_protocol_error'],
  upstream_timeout: [504, 'http_response_timeout'],
  too_many_connections: [503, 'connection_limit_reached'],
  draining: [503, 'proxy_internal_response'],
  internal_error: [500, 'proxy_internal_error'],
} as const satisfies Record<string, readonly [number, string]>;

export type Reason = keyof typeof REASONS;

/**
 * A request the proxy answers itself. `code` is stable for logs and tests (`EGRESS_HOST_NOT_ALLOWED`).
 * `message` is what the client is told: which rule and which name, never an internal address or
 * how a connection failed; `detail` (addresses, error codes) goes only to the access log.
 */
export class ProxyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly proxyStatusError: string;
  readonly detail: string | undefined;

  constructor(
    readonly reason: Reason,
    message: string,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(message, options);
    this.name = 'ProxyError';
    this.code = `EGRESS_${reason.toUpperCase()}`;
    this.detail = options?.detail;
    [this.status, this.proxyStatusError] = REASONS[reason];
  }

  static fromDenial(denial: Denial): ProxyError {
    return new ProxyError(denial.reason, denial.message, { detail: denial.detail });
  }

  /** Policy denials (403) are decisions; everything else is an error of the request or upstream. */
  get decision(): 'denied' | 'error' {
    return this.status === 403 ? 'denied' : 'error';
  }
}

/** Turns anything thrown while handling a request into a ProxyError, keeping the cause. */
export function asProxyError(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  if (error instanceof DestinationSyntaxError) return new ProxyError(error.reason, error.message);
  return new ProxyError('internal_error', 'unexpected error in the proxy', {
    cause: error,
    detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
}
