import type { Logger } from '../log/logger.js';
import { countExchange, counts } from './metrics.js';
import type { ProxyError } from './errors.js';

export interface ExchangeOutcome {
  /** `aborted`: the client left before the exchange was complete; not the proxy's or the destination's doing. */
  readonly decision: 'allowed' | 'denied' | 'error' | 'aborted';
  /** The status the client was given (or was being given); 499 when a client left before any. */
  readonly status: number;
  readonly bytesUp?: number;
  readonly bytesDown?: number;
  readonly error?: ProxyError;
}

/** The status logged for a client that left before any answer (nginx's convention). */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * One request or tunnel, from the client's first line to its end: writes the access-log line
 * and the metrics for it exactly once.
 */
export class Exchange {
  host = '';
  port = 0;
  private readonly started = performance.now();
  private done = false;

  constructor(
    private readonly logger: Logger,
    readonly kind: 'tunnel' | 'forward',
    readonly client: string,
    readonly method: string,
  ) {}

  finish(outcome: ExchangeOutcome): void {
    if (this.done) return;
    this.done = true;
    const { decision, status, bytesUp = 0, bytesDown = 0, error } = outcome;
    countExchange(this.kind, decision, status);
    counts.bytesUp += bytesUp;
    counts.bytesDown += bytesDown;
    const line = {
      client: this.client,
      method: this.method,
      host: this.host,
      port: this.port,
      decision,
      status,
      bytesUp,
      bytesDown,
      durationMs: Math.round(performance.now() - this.started),
      ...(decision === 'aborted' && { reason: 'client_aborted' }),
      ...(error && { reason: error.reason, code: error.code, detail: error.detail ?? error.message }),
    };
    if (decision === 'allowed' || decision === 'aborted') this.logger.info(line, this.kind);
    else this.logger.warn(line, this.kind);
  }
}
