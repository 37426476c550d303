import type { EgressProxyConfig } from '../config/schema.js';

/** What the primary tells a worker. */
export type ToWorker =
  | { readonly type: 'config'; readonly config: EgressProxyConfig }
  | { readonly type: 'slots-granted'; readonly count: number; readonly urgent: boolean }
  | { readonly type: 'slots-reclaim' }
  /** `stop`: also stop accepting and exit once drained (SIGTERM); without it, keep listening. */
  | { readonly type: 'drain'; readonly stop: boolean };

/** What a worker tells the primary. */
export type ToPrimary =
  /** Its listener for the config is in place (a worker may load asynchronously, e.g. with `--import`). */
  | { readonly type: 'ready' }
  | { readonly type: 'listening' }
  | { readonly type: 'slots-wanted'; readonly count: number; readonly urgent: boolean }
  | { readonly type: 'slots-returned'; readonly count: number; readonly reclaimed: boolean };

/** prom-client's aggregator shares the IPC channel; ignore messages that are not ours. */
export function isMessage<T extends { type: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as T).type === 'string';
}
