/** Turns what the drill observed into per-scenario outcomes and a table. */
import { seconds } from './exec.js';
import { EXPECTED, type Expectation } from './faults.js';
import type { FaultScenario } from './options.js';
import type { RolloutObservation } from './rollout.js';
import type { Tally } from './traffic.js';

export interface ScenarioResult {
  readonly name: FaultScenario;
  readonly title: string;
  readonly kind: 'replace' | 'hold' | 'rollout';
  readonly victim: string | undefined;
  /** Milliseconds from the injection; undefined: not detected. */
  readonly sidecarDetectMs: number | undefined;
  readonly naiveDetectMs: number | undefined;
  /** How long the naive check could have seen the fault (until the victim was deregistered). */
  readonly naiveWatchedMs: number;
  /** Injection to the replacement passing the healthy threshold. */
  readonly replacedMs: number | undefined;
  readonly replacement: string | undefined;
  /** Instances the group terminated during the scenario. */
  readonly removed: readonly string[];
  /** Instances the sidecar-checked backend held down during the scenario. */
  readonly heldDown: readonly string[];
  readonly clients: { readonly sidecar: Tally; readonly naive: Tally };
  readonly durationMs: number;
  /** The policy-rollout scenario's own observations. */
  readonly rollout?: RolloutObservation;
}

export interface Verdict {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export function judge(result: ScenarioResult, expected: Expectation = EXPECTED[result.name]): Verdict {
  const problems: string[] = [];
  const sidecar = result.sidecarDetectMs !== undefined;
  if (expected.sidecarDetects && !sidecar) problems.push('sidecar check did not detect it');
  if (!expected.sidecarDetects && result.heldDown.length > 0) {
    problems.push(`sidecar check marked ${result.heldDown.join(', ')} down`);
  }
  const naive = result.naiveDetectMs;
  if (expected.naive === 'yes' && naive === undefined) problems.push('naive check did not detect it');
  if (expected.naive === 'no' && naive !== undefined) problems.push('naive check detected it');
  if (expected.naive === 'late' && naive !== undefined && naive < (result.sidecarDetectMs ?? Infinity)) {
    problems.push('naive check detected it before the sidecar check');
  }
  if (expected.replaced && result.replacedMs === undefined) problems.push('not replaced');
  if (expected.replaced && result.victim && !result.removed.includes(result.victim)) {
    problems.push(`${result.victim} not terminated`);
  }
  const others = result.removed.filter((server) => server !== result.victim);
  if (others.length > 0) problems.push(`also removed ${others.join(', ')}`);
  if (result.kind === 'rollout') problems.push(...rolloutProblems(result));
  return { ok: problems.length === 0, problems };
}

/** A rollout must reach every instance in time, apply nothing invalid, and cost no request. */
function rolloutProblems(result: ScenarioResult): string[] {
  const rollout = result.rollout;
  if (!rollout) return ['no rollout observations'];
  const problems: string[] = [];
  for (const [server, ms] of Object.entries(rollout.convergedMs)) {
    if (ms === null || ms > rollout.boundMs) {
      problems.push(`${server} not on the new policy within ${seconds(rollout.boundMs)} s`);
    }
  }
  const servers = Object.keys(rollout.convergedMs);
  const silent = servers.filter((server) => !rollout.invalidRefusedBy.includes(server));
  if (silent.length) problems.push(`invalid policy not reported by ${silent.join(', ')}`);
  if (rollout.invalidAppliedOn.length) {
    problems.push(`invalid policy changed ${rollout.invalidAppliedOn.join(', ')}`);
  }
  if (!rollout.held) problems.push('held connections reported nothing');
  else if (rollout.held.failures.length) {
    problems.push(`${rollout.held.failures.length}/${rollout.held.connections} held connections failed`);
  }
  const failed = result.clients.sidecar.failed + result.clients.naive.failed;
  if (failed) problems.push(`${failed} client requests failed`);
  return problems;
}

/** One line per rollout: how fast each instance took the policy, the invalid one, the held connections. */
export function rolloutSummary(result: ScenarioResult): string | undefined {
  const rollout = result.rollout;
  if (!rollout) return undefined;
  const converged = Object.entries(rollout.convergedMs)
    .map(([server, ms]) => `${server} ${ms === null ? 'never' : `${seconds(ms)} s`}`)
    .join(', ');
  const held = rollout.held
    ? `${rollout.held.connections} held connections (tunnels and kept-alive), ${rollout.held.exchanges} exchanges, ${rollout.held.failures.length} failed${rollout.held.failures.length ? ` (${[...new Set(rollout.held.failures.map((f) => `${f.kind}: ${f.error}`))].join('; ')})` : ''}`
    : 'held connections: no report';
  return (
    `${result.name}: new policy in force on ${converged} (bound ${seconds(rollout.boundMs)} s); ` +
    `invalid policy refused by ${rollout.invalidRefusedBy.join(', ') || 'none'}, applied on ${rollout.invalidAppliedOn.join(', ') || 'none'}; ${held}`
  );
}

const detected = (ms: number | undefined, watchedMs?: number): string =>
  ms === undefined
    ? watchedMs === undefined
      ? 'no'
      : `no (watched ${seconds(watchedMs)} s)`
    : `yes, ${seconds(ms)} s`;

const failures = (tally: Tally): string => {
  const top = tally.reasons[0];
  return `${tally.failed}/${tally.total}${top ? ` (${top[0]}${tally.reasons.length > 1 ? ', …' : ''})` : ''}`;
};

export const COLUMNS = [
  'Scenario',
  'Sidecar check (target group): detected',
  'Naive TCP check: detected',
  'Replaced (new one healthy)',
  'Client failures via sidecar LB',
  'Client failures via naive LB',
  'Instances removed',
  'As expected',
] as const;

export function row(result: ScenarioResult): string[] {
  const verdict = judge(result);
  const expected = EXPECTED[result.name];
  const removed = result.removed.length ? result.removed.join(', ') : 'none';
  return [
    result.title,
    detected(result.sidecarDetectMs),
    detected(result.naiveDetectMs, result.kind === 'replace' ? result.naiveWatchedMs : undefined),
    result.replacedMs === undefined
      ? 'no'
      : `yes, ${seconds(result.replacedMs)} s (${result.replacement ?? '?'})`,
    failures(result.clients.sidecar),
    failures(result.clients.naive),
    expected.replaced ? removed : `${removed} (expected none)`,
    verdict.ok ? 'yes' : `NO: ${verdict.problems.join('; ')}`,
  ];
}

/** The fault scenarios' table. */
export function table(results: readonly ScenarioResult[]): string {
  return markdownTable(COLUMNS, results.map(row));
}

/** A Markdown table (also readable on a terminal). */
export function markdownTable(columns: readonly string[], body: readonly (readonly string[])[]): string {
  const rows = [[...columns], ...body];
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(rows[0] ?? []), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line)].join('\n');
}
