/** Formats a FleetStatus for people (an aligned table) and for machines (JSON). */
import type { FleetStatus, InstanceRow } from './status.js';

const COLUMNS: readonly { readonly title: string; readonly cell: (row: InstanceRow) => string }[] = [
  { title: 'INSTANCE', cell: (r) => r.instanceId },
  { title: 'AZ', cell: (r) => r.availabilityZone },
  { title: 'LIFECYCLE', cell: (r) => r.lifecycleState },
  { title: 'ASG HEALTH', cell: (r) => r.asgHealth },
  { title: 'TARGET', cell: (r) => r.targetState },
  { title: 'REASON', cell: (r) => reason(r) },
  { title: 'IMAGE', cell: (r) => r.imageId ?? '-' },
  { title: 'UPTIME', cell: (r) => (r.uptimeSeconds === undefined ? '-' : formatUptime(r.uptimeSeconds)) },
  { title: 'POLICY', cell: (r) => `${r.policyVersion ?? '-'}${r.policyLagging ? ' LAGGING' : ''}` },
];

export function formatTable(status: FleetStatus): string {
  const lines: string[] = [];
  const where = status.stackName ? ` (stack ${status.stackName})` : '';
  lines.push(
    `Auto Scaling group ${status.groupName}${where}: min ${status.minSize}, desired ${status.desiredCapacity}, max ${status.maxSize}`,
  );
  lines.push(`Target group ${status.targetGroupArn}`);
  for (const warning of status.warnings) lines.push(`warning: ${warning}`);
  lines.push('');

  const cells = [
    COLUMNS.map((c) => c.title),
    ...status.instances.map((row) => COLUMNS.map((c) => c.cell(row))),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const row of cells) {
    // The last column is not padded, so lines carry no trailing spaces.
    lines.push(
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  }
  if (status.instances.length === 0) lines.push('(no instances)');
  lines.push('');
  lines.push(summaryLine(status));
  if (status.policy) lines.push(policyLine(status));
  return lines.join('\n') + '\n';
}

/** What AppConfig serves and how many instances run it. */
export function policyLine(status: FleetStatus): string {
  const desired = status.policy?.desired;
  if (!desired) return 'Policy: no AppConfig deployment serves the fleet yet';
  const running = status.instances.filter((i) => i.policyVersion === desired.version).length;
  const verdict = status.policy!.laggingCount > 0 ? `${status.policy!.laggingCount} LAGGING` : 'OK';
  return `Policy: ${desired.version ?? desired.label ?? '(unlabelled)'} (AppConfig deployment #${desired.deploymentNumber} ${desired.state}): ${running}/${status.instances.length} instances run it, ${verdict}`;
}

export function summaryLine(status: FleetStatus): string {
  const verdict = status.belowMinimum ? 'BELOW MINIMUM' : 'OK';
  return `Healthy: ${status.healthyCount}/${status.minSize} (InService and target healthy / group minimum) ${verdict}`;
}

/** Absent values print as null, so every key is always there for `jq` and schema checks. */
export function formatJson(status: FleetStatus): string {
  return JSON.stringify(status, (_key, value: unknown) => (value === undefined ? null : value), 2) + '\n';
}

function reason(row: InstanceRow): string {
  if (row.targetReason && row.targetDescription) return `${row.targetReason}: ${row.targetDescription}`;
  return row.targetReason ?? row.targetDescription ?? '-';
}

/** Two units are enough to read at a glance: `3d 4h`, `2h 5m`, `4m 10s`, `12s`. */
export function formatUptime(totalSeconds: number): string {
  const units: readonly [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  let rest = Math.floor(totalSeconds);
  for (const [suffix, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${suffix}`);
    if (parts.length === 2) break;
  }
  return parts.length === 0 ? '0s' : parts.join(' ');
}
