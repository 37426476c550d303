import { createHash } from 'node:crypto';
import type { EgressProxyConfig } from '../config/schema.js';

/**
 * A short hash of what decides where traffic may go, reported by the sidecar so a rollout can
 * be followed instance by instance. Order-insensitive: reordering a list is the same policy.
 */
export function policyVersion(
  config: Pick<EgressProxyConfig, 'allow' | 'allowPorts' | 'allowCidrs'>,
): string {
  const canonical = JSON.stringify([
    [...config.allow].map((pattern) => pattern.toLowerCase()).sort(),
    [...config.allowPorts].sort((a, b) => a - b),
    [...config.allowCidrs].sort(),
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}
