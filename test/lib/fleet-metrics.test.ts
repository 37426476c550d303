import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { FleetMetrics } from '../../lib/fleet-metrics.js';
import { SCRAPE_CONFIG_PATH } from '../../lib/prometheus-metrics.js';
import { buildApp } from './helpers.js';

type Resources = Record<string, { Properties: Record<string, unknown> }>;

describe('the metric path in the template', () => {
  const template = Template.fromStack(buildApp().stack);
  const logGroups = template.findResources('AWS::Logs::LogGroup') as Resources;
  const eventsGroup = Object.keys(logGroups).find((id) => id.startsWith('FleetMetricsEvents'))!;
  const userData = JSON.stringify(
    (Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0] as { Properties: unknown })
      .Properties,
  );

  it('has the agent scrape both processes into the fleet namespace through a log group of its own', () => {
    expect(eventsGroup).toBeDefined();
    expect(logGroups[eventsGroup]!.Properties.RetentionInDays).toBe(7);
    expect(userData).toContain(`cat > ${SCRAPE_CONFIG_PATH} <<EGRESS_PROXY_PROMETHEUS`);
    expect(userData).toMatch(
      /metrics_collected\\":\{\\"prometheus\\":\{\\"log_group_name\\":\\"",\{"Ref":"FleetMetricsEvents/,
    );
    expect(userData).toContain('\\"metric_namespace\\":\\"EgressProxy/EgressProxy\\"');
    expect(userData).toContain(`\\"prometheus_config_path\\":\\"${SCRAPE_CONFIG_PATH}\\"`);
  });

  it('lets the instances write events to that log group', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resources[string][];
    const statements = policies.flatMap(
      (p) =>
        (p.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
    );
    const onEvents = statements.filter((s) => JSON.stringify(s.Resource).includes(eventsGroup));
    expect(onEvents).toHaveLength(1);
    expect(onEvents[0]!.Action).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'logs:DescribeLogStreams',
    ]);
    expect([onEvents[0]!.Resource].flat()).toContainEqual({ 'Fn::GetAtt': [eventsGroup, 'Arn'] });
  });

  it('refuses a second fleet with the same namespace in one stack, naming the first', () => {
    const stack = new Stack(new App(), 'S');
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    new FleetMetrics(stack, 'A', { role });
    new FleetMetrics(stack, 'B', { role, namespace: 'EgressProxy/Other' });
    expect(() => new FleetMetrics(stack, 'C', { role })).toThrow(
      /S\/C: namespace \(EgressProxy\/S\) is already used by S\/A/,
    );
  });
});
