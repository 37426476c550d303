import type { Socket } from 'node:net';
import type { EgressProxyConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Policy } from '../policy/policy.js';
import { ProxyError } from './errors.js';
import type { SlotLease } from './slot-lease.js';
import type { UpstreamOptions } from './upstream.js';

/** What one worker's handlers share. `policy` is swapped on reload; the rest lives as long as the worker. */
export interface WorkerContext {
  readonly config: EgressProxyConfig;
  readonly logger: Logger;
  /** This worker's share of limits.maxConnections. */
  readonly slots: SlotLease;
  readonly upstream: UpstreamOptions;
  policy: Policy;
  /** Set on SIGTERM: new requests get 503 or `Connection: close`. */
  draining: boolean;
  /** Open tunnels' client sockets, ended at the drain deadline. */
  readonly tunnels: Set<Socket>;
  /** Absolute-form requests still being forwarded. */
  forwardsInFlight: number;
}

/** The answer to a request that arrives while the worker drains. */
export function drainingError(context: WorkerContext): ProxyError | null {
  return context.draining
    ? new ProxyError('draining', 'the proxy is shutting down; retry on another instance')
    : null;
}
