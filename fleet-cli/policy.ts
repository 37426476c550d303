/**
 * The policy part of the fleet status: which policy AppConfig serves the fleet now (its latest
 * deployment that is not rolled back, ListDeployments) and which version each instance runs (the
 * sidecar's `policy in force` log lines in the fleet's log group, FilterLogEvents). Neither needs a
 * network path to the instances, nor any permission on them. Both locations come from tags the
 * stack puts on the Auto Scaling group; a group without them has no policy distribution.
 */
import { paginateListDeployments, type AppConfigClient } from '@aws-sdk/client-appconfig';
import { paginateFilterLogEvents, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { POLICY_TAGS } from '../lib/policy-tags.js';
import type { AwsAction } from './errors.js';

/** The sidecar's log line for a change of the version in force (proxy-app/src/sidecar/policy/agent.ts). */
const IN_FORCE_MESSAGE = 'policy in force';
/** Hosted configuration versions are labelled `policy-<version>` by the stack. */
const LABEL_PREFIX = 'policy-';
/** Deployment states in which AppConfig serves a deployment's configuration. */
const SERVED_STATES = new Set(['DEPLOYING', 'BAKING', 'COMPLETE']);
/** A bound on the log pages read, so a log group full of old rollouts cannot make the command hang. */
const MAX_LOG_PAGES = 50;

export interface PolicyClients {
  readonly appConfig: AppConfigClient;
  readonly logs: CloudWatchLogsClient;
}

export interface DesiredPolicy {
  /** The policy version AppConfig serves, from the deployment's label; null if not labelled by the stack. */
  readonly version: string | null;
  readonly label: string | null;
  readonly deploymentNumber: number;
  readonly state: string;
  readonly startedAt: string | null;
}

export interface InstancePolicy {
  /** The version the instance last reported in force; null when it has not reported (yet). */
  readonly version: string | null;
  readonly reportedAt: string | null;
  /** InService, not on the served version, and had longer than the grace period to get there. */
  readonly lagging: boolean;
}

export interface FleetPolicy {
  readonly desired: DesiredPolicy | null;
  readonly instances: ReadonlyMap<string, InstancePolicy>;
  readonly laggingCount: number;
}

export interface PolicyMember {
  readonly instanceId: string;
  readonly lifecycleState: string;
  readonly launchTime: Date | undefined;
}

type Call = <T>(action: AwsAction, run: () => Promise<T>) => Promise<T>;

/** The group's policy locations, or null when the stack gave it none. */
export function policyLocations(
  group: AutoScalingGroup,
): { application: string; environment: string; logGroup: string } | null {
  const tag = (key: string): string | undefined => group.Tags?.find((t) => t.Key === key)?.Value;
  const [application, environment] = (tag(POLICY_TAGS.appConfig) ?? '').split('/');
  const logGroup = tag(POLICY_TAGS.logGroup);
  return application && environment && logGroup ? { application, environment, logGroup } : null;
}

export async function gatherPolicy(
  clients: PolicyClients,
  where: { application: string; environment: string; logGroup: string },
  members: readonly PolicyMember[],
  options: { now: Date; graceSeconds: number; call: Call; warnings: string[] },
): Promise<FleetPolicy> {
  const { now, graceSeconds, call, warnings } = options;
  const [desired, reported] = await Promise.all([
    call('appconfig:ListDeployments', () => servedDeployment(clients.appConfig, where, warnings)),
    call('logs:FilterLogEvents', () => reportedVersions(clients.logs, where.logGroup, members)),
  ]);
  const instances = new Map<string, InstancePolicy>();
  for (const member of members) {
    const report = reported.get(member.instanceId);
    const version = report?.version ?? null;
    // The clock starts at the later of the deployment and the instance's launch.
    const since = Math.max(
      desired?.startedAt ? Date.parse(desired.startedAt) : 0,
      member.launchTime?.getTime() ?? 0,
    );
    const lagging =
      desired?.version != null &&
      member.lifecycleState === 'InService' &&
      version !== desired.version &&
      now.getTime() - since > graceSeconds * 1000;
    instances.set(member.instanceId, { version, reportedAt: report?.at ?? null, lagging });
  }
  return {
    desired,
    instances,
    laggingCount: [...instances.values()].filter((i) => i.lagging).length,
  };
}

async function servedDeployment(
  client: AppConfigClient,
  where: { application: string; environment: string },
  warnings: string[],
): Promise<DesiredPolicy | null> {
  const all = [];
  for await (const page of paginateListDeployments(
    { client },
    { ApplicationId: where.application, EnvironmentId: where.environment },
  )) {
    all.push(...(page.Items ?? []));
  }
  all.sort((a, b) => (b.DeploymentNumber ?? 0) - (a.DeploymentNumber ?? 0));
  const served = all.find((d) => SERVED_STATES.has(d.State ?? ''));
  const latest = all[0];
  if (latest && latest !== served) {
    warnings.push(
      `AppConfig deployment #${latest.DeploymentNumber} (${latest.VersionLabel ?? 'unlabelled'}) is ${latest.State}; the fleet is served ${served ? `#${served.DeploymentNumber}` : 'nothing'}`,
    );
  }
  if (!served) return null;
  const label = served.VersionLabel ?? null;
  return {
    version: label?.startsWith(LABEL_PREFIX) ? label.slice(LABEL_PREFIX.length) : null,
    label,
    deploymentNumber: served.DeploymentNumber ?? 0,
    state: served.State ?? 'unknown',
    startedAt: served.StartedAt?.toISOString() ?? null,
  };
}

/**
 * The latest `policy in force` line of each instance's sidecar stream (`<instance-id>/sidecar`),
 * since the earliest launch among the members. The filter is a quoted term, which CloudWatch Logs
 * matches as a phrase; the JSON line is parsed here.
 */
async function reportedVersions(
  client: CloudWatchLogsClient,
  logGroupName: string,
  members: readonly PolicyMember[],
): Promise<Map<string, { version: string; at: string }>> {
  const wanted = new Set(members.map((m) => `${m.instanceId}/sidecar`));
  const latest = new Map<string, { version: string; at: string; timestamp: number }>();
  if (wanted.size === 0) return latest;
  const startTime = Math.min(...members.map((m) => m.launchTime?.getTime() ?? Date.now() - 86_400_000));
  let pages = 0;
  for await (const page of paginateFilterLogEvents(
    { client },
    { logGroupName, filterPattern: `"${IN_FORCE_MESSAGE}"`, startTime },
  )) {
    for (const event of page.events ?? []) {
      if (!event.logStreamName || !wanted.has(event.logStreamName) || event.timestamp === undefined) continue;
      const version = versionIn(event.message);
      const id = event.logStreamName.slice(0, -'/sidecar'.length);
      const seen = latest.get(id);
      if (version && (!seen || seen.timestamp <= event.timestamp)) {
        latest.set(id, { version, at: new Date(event.timestamp).toISOString(), timestamp: event.timestamp });
      }
    }
    if (++pages >= MAX_LOG_PAGES) break;
  }
  return latest;
}

function versionIn(message: string | undefined): string | null {
  try {
    const line = JSON.parse(message ?? '') as { msg?: unknown; policyVersion?: unknown };
    return line.msg === IN_FORCE_MESSAGE && typeof line.policyVersion === 'string'
      ? line.policyVersion
      : null;
  } catch {
    return null;
  }
}
