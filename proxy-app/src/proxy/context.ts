import type { EgressProxyConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Policy } from '../policy/policy.js';
import { ProxyError } from './errors.js';
import type { SlotLease } from './slot-lease.js';
import type { Relay } from './splice.js';
import type { UpstreamOptions } from './upstream.js';

/** What one worker's handlers share. `policy` is swapped on reload; the rest lives as long as the worker. */
export interface WorkerContext {
  readonly config: EgressProxyConfig;
  readonly logger: Logger;
  /** This worker's share of limits.maxConnections. */
  readonly slots: SlotLease;
  readonly upstream: UpstreamOptions;
  policy: Policy;
  /** Set when a drain starts: new requests get 503, answers `Connection: close`. */
  draining: boolean;
  /** Open tunnels, closed when idle while draining and at the drain deadline. */
  readonly tunnels: Set<Relay>;
  /** Absolute-form requests still being forwarded. */
  forwardsInFlight: number;
}

/** The answer to a request that arrives while the worker drains. */
export function drainingError(context: WorkerContext): ProxyError | null {
  return context.draining
    ? new ProxyError('draining', 'the proxy is shutting down; retry on another instance')
    : null;
}
