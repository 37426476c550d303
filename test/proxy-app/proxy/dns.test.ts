import { describe, expect, it } from 'vitest';
import { isolationUnavailable, runIsolated } from '../isolated.js';

const unavailable = isolationUnavailable();

interface Result {
  nxStatuses: number[];
  nxQueries: number;
  warmStatus: number;
  cached: number;
  cachedAnsweredMs: number;
  literal: number;
  literalAnsweredMs: number;
  otherClient: number;
  otherClientAnsweredMs: number;
  firstFloodAnsweredMs: number;
  floodStatuses: number[];
  mostConcurrentLookups: number;
}

describe('name resolution under a flood of unique names', () => {
  if (unavailable && !process.env.CI) {
    it.skip(`bounds lookups, caches failures, starves no one [SKIPPED: ${unavailable}]`, () => undefined);
    return;
  }

  let result: Result;
  it('runs the scenario (a DNS server that takes 2 s per name)', async () => {
    result = await runIsolated<Result>(
      'dns-flood',
      { hosts: '127.0.0.1 localhost\n', resolvConf: 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' },
      [],
      90_000,
    );
    expect(result.warmStatus).toBe(200);
  }, 100_000);

  it('caches a name that does not exist: the second request asks DNS nothing', () => {
    expect(result.nxStatuses).toEqual([502, 502]);
    expect(result.nxQueries).toBe(1);
  });

  it('answers a cached name and an IP literal while the flood waits for DNS', () => {
    expect(result.cached).toBe(200);
    expect(result.literal).toBe(200);
    expect(result.cachedAnsweredMs).toBeLessThan(result.firstFloodAnsweredMs);
    expect(result.literalAnsweredMs).toBeLessThan(result.firstFloodAnsweredMs);
  });

  it("resolves another client's new name while the flood waits: one client cannot take every lookup", () => {
    expect(result.otherClient).toBe(200);
    expect(result.otherClientAnsweredMs).toBeLessThan(result.firstFloodAnsweredMs);
  });

  it('bounds concurrent lookups and still resolves every flooded name', () => {
    expect(result.mostConcurrentLookups).toBeLessThanOrEqual(16);
    expect(result.floodStatuses.every((status) => status === 200)).toBe(true);
  });
});
