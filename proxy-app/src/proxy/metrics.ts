import { AggregatorRegistry, Counter, Gauge, Histogram } from 'prom-client';
import { RecentQuantiles } from './recent-quantiles.js';

type ExchangeLabels = { readonly kind: string; readonly decision: string; readonly status: number };

/**
 * What changes on every exchange or connection, as plain numbers: the hot path adds to a field,
 * and prom-client reads them (`collect`) only when the metrics are scraped. prom-client's own
 * `inc()` hashes and checks the labels on every call, about 85 k of the 1.5 M instructions a new
 * tunnel costs a worker (callgrind, docs/performance.md).
 */
export const counts = {
  openTunnels: 0,
  openConnections: 0,
  bytesUp: 0,
  bytesDown: 0,
  /** Exchanges by `${kind} ${decision} ${status}`. */
  exchanges: new Map<string, { readonly labels: ExchangeLabels; total: number }>(),
};

/** One request or tunnel, counted by kind, decision and status. */
export function countExchange(kind: string, decision: string, status: number): void {
  const key = `${kind} ${decision} ${status}`;
  const entry = counts.exchanges.get(key);
  if (entry) entry.total++;
  else counts.exchanges.set(key, { labels: { kind, decision, status }, total: 1 });
}

/**
 * The proxy's Prometheus metrics, one set per worker in prom-client's global registry; the
 * primary aggregates them across workers (AggregatorRegistry) on its loopback metrics port.
 */
export const metrics = {
  requests: new Counter({
    name: 'egress_proxy_requests_total',
    help: 'Requests and tunnels by kind, decision (allowed, denied, error, aborted) and status.',
    labelNames: ['kind', 'decision', 'status'] as const,
    collect() {
      this.reset();
      for (const { labels, total } of counts.exchanges.values()) this.inc(labels, total);
    },
  }),
  openTunnels: new Gauge({
    name: 'egress_proxy_open_tunnels',
    help: 'CONNECT tunnels open now.',
    collect() {
      this.set(counts.openTunnels);
    },
  }),
  openConnections: new Gauge({
    name: 'egress_proxy_open_connections',
    help: 'Client connections open now.',
    collect() {
      this.set(counts.openConnections);
    },
  }),
  connectionsRefused: new Counter({
    name: 'egress_proxy_connections_refused_total',
    help: 'Client connections answered 503 at once because limits.maxConnections was reached.',
  }),
  logLinesDropped: new Counter({
    name: 'egress_proxy_log_lines_dropped_total',
    help: 'Log lines dropped because stdout did not keep up and log.maxBufferBytes was full.',
  }),
  bytes: new Counter({
    name: 'egress_proxy_bytes_total',
    help: 'Payload bytes relayed; up is client to destination.',
    labelNames: ['direction'] as const,
    collect() {
      this.reset();
      if (counts.bytesUp) this.inc({ direction: 'up' }, counts.bytesUp);
      if (counts.bytesDown) this.inc({ direction: 'down' }, counts.bytesDown);
    },
  }),
  upstreamConnectSeconds: new Histogram({
    name: 'egress_proxy_upstream_connect_seconds',
    help: 'Time to open a TCP connection to a destination.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  }),
  /**
   * The same times as quantiles over the last minute, for the CloudWatch agent, which drops
   * histograms but keeps a summary's quantiles as reported. Across workers the primary reports the
   * largest worker quantile: the instance's own quantile lies between the workers' smallest and
   * largest, so this is an upper bound (an idle worker reports 0 and never raises it).
   */
  upstreamConnectRecentSeconds: new RecentQuantiles({
    name: 'egress_proxy_upstream_connect_recent_seconds',
    help: 'Time to open a TCP connection to a destination, over the last minute (max across workers).',
    percentiles: [0.5, 0.99],
    maxAgeSeconds: 60,
    aggregator: 'max',
  }),
  policyInfo: new Gauge({
    name: 'egress_proxy_policy_info',
    help: 'The policy version in force (value is the number of workers running it).',
    labelNames: ['version'] as const,
  }),
};

/** In a worker: answer the primary's requests for this worker's metrics (prom-client's IPC protocol). */
export function answerMetricsRequests(): void {
  new AggregatorRegistry();
}

/** One upstream TCP connection opened, in `seconds`. */
export function observeUpstreamConnect(seconds: number): void {
  metrics.upstreamConnectSeconds.observe(seconds);
  metrics.upstreamConnectRecentSeconds.observe(seconds);
}
