import type { Socket } from 'node:net';
import type { WorkerContext } from './context.js';
import { ProxyError } from './errors.js';

const OVER_LIMIT = Symbol('egress-proxy.overLimit');

type MarkedSocket = Socket & { [OVER_LIMIT]?: boolean };

/**
 * Counts a new client connection against `limits.maxConnections`; the caller releases an admitted
 * one when it closes. One over the limit is not dropped silently: it is marked, and its first
 * request gets a 503 it can act on.
 */
export function admitConnection(context: WorkerContext, socket: Socket): boolean {
  if (context.limit.admit()) return true;
  (socket as MarkedSocket)[OVER_LIMIT] = true;
  return false;
}

/** Why a request on this connection must be refused before looking at it, if it must. */
export function admissionError(context: WorkerContext, socket: Socket): ProxyError | null {
  if ((socket as MarkedSocket)[OVER_LIMIT]) {
    return new ProxyError(
      'too_many_connections',
      `the proxy is at limits.maxConnections (${context.config.limits.maxConnections})`,
    );
  }
  if (context.draining)
    return new ProxyError('draining', 'the proxy is shutting down; retry on another instance');
  return null;
}
