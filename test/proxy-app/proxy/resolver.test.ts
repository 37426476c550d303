/**
 * The resolver's own bounds, with the system lookup (getaddrinfo) replaced through the
 * constructor's seam by one the test answers when it chooses: real promises and timers, no DNS.
 */
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../proxy-app/src/proxy/errors.js';
import { MAX_WAITING, Resolver } from '../../../proxy-app/src/proxy/resolver.js';

/** A lookup that answers 192.0.2.1 for a name only once the test releases it. */
function heldLookup(): {
  lookup: (host: string) => Promise<string[]>;
  asked: string[];
  releaseAll: () => void;
} {
  const asked: string[] = [];
  const releases: (() => void)[] = [];
  return {
    asked,
    lookup: (host) =>
      new Promise((resolve) => {
        asked.push(host);
        releases.push(() => resolve(['192.0.2.1']));
      }),
    releaseAll: () => releases.splice(0).forEach((release) => release()),
  };
}

const settled = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => 'resolved',
    (error) => error,
  );

describe('Resolver', () => {
  it(`refuses a new name with dns_busy once ${MAX_WAITING} lookups wait, and takes new ones once they drain`, async () => {
    const held = heldLookup();
    const resolver = new Resolver({ cacheMs: 60_000, negativeCacheMs: 1_000 }, held.lookup);
    const until = performance.now() + 60_000;
    const accepted: Promise<unknown>[] = [];
    let refused: unknown;
    for (let i = 0; refused === undefined && i < MAX_WAITING + 100; i++) {
      const outcome = resolver.resolve(`n${i}.test`, '10.0.0.1', until);
      // A refusal is immediate: it has settled by the next turn, an accepted lookup has not.
      const first = await Promise.race([settled(outcome), new Promise((resolve) => setImmediate(resolve))]);
      if (first instanceof ProxyError) refused = first;
      else accepted.push(outcome);
    }
    expect(refused).toBeInstanceOf(ProxyError);
    expect((refused as ProxyError).reason).toBe('dns_busy');
    // Every lookup already running (one per client here) plus exactly MAX_WAITING waiting.
    expect(accepted.length).toBe(held.asked.length + MAX_WAITING);
    // A name already being looked up joins that lookup rather than being refused.
    const joined = resolver.resolve('n0.test', '10.0.0.2', until);
    for (let round = 0; held.asked.length < accepted.length; round++) {
      held.releaseAll();
      await new Promise((resolve) => setImmediate(resolve));
      expect(round).toBeLessThan(accepted.length);
    }
    held.releaseAll();
    expect(await Promise.all(accepted.map(settled))).toEqual(accepted.map(() => 'resolved'));
    expect(await settled(joined)).toBe('resolved');
    const after = settled(resolver.resolve('after.test', '10.0.0.1', until));
    await new Promise((resolve) => setImmediate(resolve));
    held.releaseAll();
    expect(await after).toBe('resolved');
  });
});
