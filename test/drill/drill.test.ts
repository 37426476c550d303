/**
 * Runs the short fleet drill (drill/run.ts --short): namespaces, HAProxy as the NLB stand-in, a
 * group controller and an AWS stand-in that follow the stack's synthesized template, the short
 * drill's faults (SHORT_SCENARIOS) while a client sends traffic, then scale-in and an instance refresh with tunnels open. Needs
 * root, haproxy and ip; without them it is skipped, except under CI (which installs them), where
 * it fails.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runDrill } from '../../drill/drill.js';
import { INSTALL_HINT, missingBuild, missingPrerequisites } from '../../drill/prereqs.js';
import type { ScenarioResult } from '../../drill/report.js';
import { DRAIN_SCENARIOS, SHORT_SCENARIOS } from '../../drill/options.js';
import { formatReport, parseArgs } from '../../drill/run.js';

/** The short drill's own budget is 450 s (synthesis before it); this leaves room for cleanup. */
const TIMEOUT_MS = 540_000;

const missing = await missingPrerequisites();
const skipReason = `needs ${missing.join(', ')}: ${INSTALL_HINT}`;
const mustRun = Boolean(process.env.CI);

describe('fleet drill (short)', () => {
  if (missing.length > 0 && !mustRun) {
    it.skip(`detects, replaces, and leaves healthy instances alone [SKIPPED: ${skipReason}]`, () =>
      undefined);
    return;
  }

  it('detects, replaces, and leaves healthy instances alone', { timeout: TIMEOUT_MS }, async () => {
    if (missing.length > 0) throw new Error(`CI is set but the drill cannot run: ${skipReason}`);
    if (missingBuild().length > 0) {
      execFileSync(process.execPath, ['proxy-app/build.mjs'], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: 'ignore',
      });
    }
    const log: string[] = [];
    const report = await runDrill(parseArgs(['--short'], (line) => log.push(line)));
    const context = `${formatReport(report)}\n\n${log.join('\n')}`;
    const scenario = (name: ScenarioResult['name']): ScenarioResult => {
      const found = report.results.find((r) => r.name === name);
      if (!found) throw new Error(`no result for ${name}\n${context}`);
      return found;
    };

    // Every scenario ran, in order.
    expect([...report.results, ...report.drains].map((r) => r.name)).toEqual([...SHORT_SCENARIOS]);
    expect(report.drains.map((r) => r.name)).toEqual([...DRAIN_SCENARIOS]);

    for (const name of ['proxy-killed', 'fake-200', 'probe-denied'] as const) {
      const result = scenario(name);
      expect.soft(result.sidecarDetectMs, `${name}: detected by the sidecar check\n${context}`).toBeDefined();
      expect.soft(result.replacedMs, `${name}: replaced\n${context}`).toBeDefined();
      expect.soft(result.removed, `${name}: only the victim terminated\n${context}`).toEqual([result.victim]);
    }

    // What a TCP check cannot see: not detected at all, or only after the sidecar check.
    const { naiveDetectMs, sidecarDetectMs } = scenario('fake-200');
    const late = naiveDetectMs === undefined || naiveDetectMs >= (sidecarDetectMs ?? Infinity);
    expect
      .soft(late, `fake-200: the naive TCP check should miss it (${naiveDetectMs} ms)\n${context}`)
      .toBe(true);

    // An internet outage is not the instances' fault: nothing is marked down or removed...
    const outage = scenario('internet-outage');
    expect.soft(outage.heldDown, `internet-outage: marked down\n${context}`).toEqual([]);
    expect.soft(outage.removed, `internet-outage: removed\n${context}`).toEqual([]);
    // ...although clients did see it (so the outage really happened).
    expect
      .soft(outage.clients.sidecar.failed, `internet-outage: client failures\n${context}`)
      .toBeGreaterThan(0);

    // By design the probe does not depend on the allowlist: a bad allowlist is not a reason to
    // replace instances (a new one would get the same config).
    const allowlist = scenario('allowlist-emptied');
    expect.soft(allowlist.removed, `allowlist-emptied: removed\n${context}`).toEqual([]);
    expect.soft(allowlist.clients.sidecar.failed, `allowlist-emptied: denied\n${context}`).toBeGreaterThan(0);

    // A policy rollout reaches every instance within the poll interval plus a few seconds, drops no
    // held tunnel or kept-alive connection and fails no request; an invalid policy is refused
    // everywhere and applied nowhere.
    const rollout = scenario('policy-rollout');
    const observed = rollout.rollout!;
    expect(observed, `policy-rollout: observations\n${context}`).toBeDefined();
    const servers = Object.keys(observed.convergedMs);
    expect.soft(servers, `policy-rollout: instances\n${context}`).toHaveLength(3);
    for (const [server, ms] of Object.entries(observed.convergedMs)) {
      expect.soft(ms, `policy-rollout: ${server} converged\n${context}`).not.toBeNull();
      expect
        .soft(ms!, `policy-rollout: ${server} within the bound\n${context}`)
        .toBeLessThanOrEqual(observed.boundMs);
    }
    expect
      .soft(Object.values(observed.versionAfter), `policy-rollout: versions\n${context}`)
      .toEqual(servers.map(() => observed.expectedVersion));
    expect.soft(observed.invalidRefusedBy, `policy-rollout: invalid refused\n${context}`).toEqual(servers);
    expect.soft(observed.invalidAppliedOn, `policy-rollout: invalid applied\n${context}`).toEqual([]);
    expect.soft(observed.held?.failures, `policy-rollout: held connections\n${context}`).toEqual([]);
    expect.soft(observed.held?.exchanges, `policy-rollout: held exchanges\n${context}`).toBeGreaterThan(0);
    expect.soft(rollout.clients.sidecar.failed, `policy-rollout: client failures\n${context}`).toBe(0);
    expect.soft(rollout.removed, `policy-rollout: removed\n${context}`).toEqual([]);

    // Leaving the fleet, under both readings of instance metadata: the busy tunnel (older than the
    // deregistration delay) runs until its client ends it, the idle one is closed by the proxy
    // early, every instance leaves within the bound through its sidecar, and no request fails.
    expect(report.drains.map((r) => r.reading)).toEqual(['at-decision', 'at-wait']);
    for (const drain of report.drains) {
      const label = `${drain.name}\n${context}`;
      expect.soft(drain.decisionAt - drain.busy.openedAt, label).toBeGreaterThanOrEqual(drain.boundMs);
      expect.soft(drain.busy.end?.how, label).toBe('client');
      expect.soft(drain.busy.end?.echoed, label).toBe(drain.busy.end?.sent);
      expect.soft(drain.idle.end?.how, label).toBe('fin');
      expect.soft(drain.idle.end!.at, label).toBeLessThan(drain.busy.end!.at);
      for (const t of drain.terminations) {
        expect.soft(t.hookEnded, `${t.server} ${label}`).toBe('sidecar');
        expect
          .soft(t.terminatedAt! - t.decisionAt, `${t.server} ${label}`)
          .toBeLessThanOrEqual(drain.boundMs + 3_000);
      }
      expect.soft(drain.clients.failed, label).toBe(0);
      expect.soft(drain.markedDown, `healthy instances marked down: ${label}`).toEqual([]);
    }
    expect(report.drains.find((d) => d.name === 'instance-refresh')?.terminations).toHaveLength(3);

    expect(report.ok, context).toBe(true);
  });
});
