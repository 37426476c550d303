/**
 * The policy-rollout scenario: a new policy deployed through AppConfig while traffic flows and
 * long-lived connections are held open, then a deliberately invalid one. Records when each
 * instance's proxy ran the new version, whether any instance ever applied the invalid one, and
 * whether a held tunnel or kept-alive connection failed.
 */
import { LB_IP, NS, ORIGIN_NAME } from './network.js';
import { SIDECAR_LB } from './haproxy.js';
import { logLine, type Instance } from './instance.js';
import type { DrillOptions } from './options.js';
import { BASE_POLICY, EXTRA_NAME, policyAllowing, ROLLOUT_BOUND_MS, type PolicyService } from './policy.js';
import { sleep, waitFor } from './exec.js';
import { spawnScript } from './scripts.js';
import { HELD_READY, type HeldSpec, type HeldSummary } from './servers/protocol.js';

/** Fails AppConfig's own JSON Schema as well as the proxy's validator: a wildcard over a top-level domain. */
export const INVALID_POLICY = '{"allow": ["*.drill"], "allowPorts": [80, 443]}';

export interface RolloutObservation {
  readonly boundMs: number;
  /** Per instance: ms from the deployment until its sidecar confirmed the new version in force. */
  readonly convergedMs: Readonly<Record<string, number | null>>;
  /** Per instance: the version its proxy reported once the rollout was over. */
  readonly versionAfter: Readonly<Record<string, string | null>>;
  readonly expectedVersion: string;
  /** Instances whose sidecar refused the invalid policy (EGRESS_POLICY_INVALID). */
  readonly invalidRefusedBy: readonly string[];
  /** Instances that reloaded anything, or ran another version, after the invalid deployment. */
  readonly invalidAppliedOn: readonly string[];
  readonly held: HeldSummary | null;
}

/** Every JSON line of each instance's sidecar and proxy, with the time it arrived. */
function recordLines(fleet: readonly Instance[]): {
  lines: { server: string; proc: 'sidecar' | 'proxy'; at: number; line: Record<string, unknown> }[];
  stop: () => void;
} {
  const lines: ReturnType<typeof recordLines>['lines'] = [];
  const offs = fleet.flatMap((instance) =>
    (['sidecar', 'proxy'] as const).map(
      (proc) =>
        instance[proc]?.onLine((text) => {
          const line = logLine(text);
          if (line) lines.push({ server: instance.server, proc, at: Date.now(), line });
        }) ?? (() => undefined),
    ),
  );
  return { lines, stop: () => offs.forEach((off) => off()) };
}

async function startHeld(options: DrillOptions): Promise<{ stop: () => Promise<HeldSummary | null> }> {
  const spec: HeldSpec = {
    host: LB_IP,
    port: SIDECAR_LB.port,
    originHost: ORIGIN_NAME,
    perKind: 3,
    intervalMs: 200,
    timeoutMs: options.requestTimeoutMs,
    maxDurationMs: 60_000,
  };
  const proc = spawnScript('held connections', NS.client, 'held-connections', [JSON.stringify(spec)], {
    stdin: true,
  });
  let summary: HeldSummary | null = null;
  proc.onLine((text) => {
    if (text.startsWith('{')) summary = JSON.parse(text) as HeldSummary;
  });
  await proc.waitForLine(HELD_READY, 10_000);
  // Let every connection through its first exchange before anything changes.
  await sleep(1_000);
  return {
    async stop() {
      proc.endInput();
      await Promise.race([proc.exited, sleep(options.requestTimeoutMs + 2_000)]);
      await proc.kill();
      return summary;
    },
  };
}

export async function rollOut(
  fleet: readonly Instance[],
  policy: PolicyService,
  options: DrillOptions,
): Promise<{ at: number; rollout: RolloutObservation }> {
  const held = await startHeld(options);
  const recorded = recordLines(fleet);
  const servers = fleet.map((i) => i.server);
  const since = (from: number, server: string, match: (line: Record<string, unknown>) => boolean) =>
    recorded.lines.find((l) => l.server === server && l.at >= from && match(l.line));
  try {
    const next = await policy.deployPolicy(policyAllowing([ORIGIN_NAME, EXTRA_NAME]));
    const applied = (server: string) =>
      since(next.at, server, (l) => l.msg === 'policy applied' && l.policyVersion === next.version);
    await waitFor(() => (servers.every(applied) ? true : undefined), ROLLOUT_BOUND_MS, 50);
    const convergedMs = Object.fromEntries(
      servers.map((server) => [server, applied(server) ? applied(server)!.at - next.at : null]),
    );

    const invalid = await policy.deploy(INVALID_POLICY);
    const refused = (server: string) => since(invalid.at, server, (l) => l.code === 'EGRESS_POLICY_INVALID');
    await waitFor(() => (servers.every(refused) ? true : undefined), ROLLOUT_BOUND_MS, 50);
    // Two more polls' worth: time enough for anyone to apply it, if anyone would.
    await sleep(2_000);
    const reloadedSinceInvalid = servers.filter((server) =>
      since(invalid.at, server, (l) => l.msg === 'policy applied' || l.msg === 'policy reloaded'),
    );
    const versions = await Promise.all(fleet.map((i) => i.policyVersion().catch(() => null)));
    const versionAfter = Object.fromEntries(servers.map((server, i) => [server, versions[i] ?? null]));
    // Evidence only: a reload, or another version reported. No answer at all is not evidence.
    const invalidAppliedOn = servers.filter(
      (server) =>
        reloadedSinceInvalid.includes(server) ||
        (versionAfter[server] !== null && versionAfter[server] !== next.version),
    );

    // Back to the policy the other scenarios expect.
    const base = await policy.deployPolicy(BASE_POLICY);
    await waitFor(
      () =>
        servers.every((server) =>
          since(base.at, server, (l) => l.msg === 'policy applied' && l.policyVersion === base.version),
        )
          ? true
          : undefined,
      ROLLOUT_BOUND_MS,
      50,
    );
    return {
      at: next.at,
      rollout: {
        boundMs: ROLLOUT_BOUND_MS,
        convergedMs,
        versionAfter,
        expectedVersion: next.version,
        invalidRefusedBy: servers.filter((server) => refused(server) !== undefined),
        invalidAppliedOn,
        held: await held.stop(),
      },
    };
  } finally {
    recorded.stop();
    await held.stop();
  }
}
