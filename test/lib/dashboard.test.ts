import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { EXPORTED_METRICS } from '../../lib/prometheus-metrics.js';
import { buildApp } from './helpers.js';

/** A dashboard body with its deploy-time references (Ref, Fn::GetAtt, ...) replaced by a marker. */
function dashboardBody(template: Template): { widgets: { properties: Record<string, unknown> }[] } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = (dashboards[0] as { Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } } })
    .Properties.DashboardBody['Fn::Join'][1];
  return JSON.parse(body.map((part) => (typeof part === 'string' ? part : '<ref>')).join('')) as ReturnType<
    typeof dashboardBody
  >;
}

/** Every metric a widget draws: [namespace, name, ...dimension pairs], and every search expression. */
function drawn(body: ReturnType<typeof dashboardBody>): { metrics: string[][]; expressions: string[] } {
  const metrics: string[][] = [];
  const expressions: string[] = [];
  for (const { properties } of body.widgets) {
    for (const entry of (properties.metrics as unknown[][] | undefined) ?? []) {
      const last = entry.at(-1) as { expression?: string } | undefined;
      if (last?.expression) expressions.push(last.expression);
      else metrics.push(entry.filter((part) => typeof part === 'string') as string[]);
    }
  }
  return { metrics, expressions };
}

describe('the fleet dashboard', () => {
  const template = Template.fromStack(buildApp().stack);
  const body = dashboardBody(template);
  const { metrics, expressions } = drawn(body);
  const namespace = 'EgressProxy/EgressProxy';
  const exportedNames = Object.values(EXPORTED_METRICS).map((m) => m.name as string);

  it('is on by default, with every panel the operators asked for', () => {
    const titles = body.widgets.map((w) => w.properties.title);
    expect(titles).toEqual([
      'Alarms',
      'Healthy targets per zone',
      'Requests per minute, by decision',
      'Open tunnels per instance',
      'Open client connections per instance',
      'Bytes relayed per minute',
      'Upstream connect time (slowest instance)',
      'Health probe time through the proxy (slowest instance)',
      'Health probes per minute, by result',
      'CPU utilisation',
      'Replacements: instances launching and terminating',
      'Policy version in force (instances reporting it)',
      'Policy alarms',
      'Policy problems per 5 minutes (sidecar log), by code',
    ]);
  });

  it('shows healthy hosts per availability zone of the load balancer', () => {
    const perZone = metrics.filter((m) => m[1] === 'HealthyHostCount' && m.includes('AvailabilityZone'));
    expect(perZone).toHaveLength(2);
  });

  it('draws the denied share from the requests by decision', () => {
    const requests = body.widgets.find((w) => w.properties.title === 'Requests per minute, by decision')!;
    expect(JSON.stringify(requests.properties.metrics)).toContain(
      '100 * denied / (allowed + denied + failed)',
    );
    for (const decision of ['allowed', 'denied', 'error']) {
      expect(metrics).toContainEqual([namespace, 'egress_proxy_requests_total', 'decision', decision]);
    }
  });

  it('shows p50 and p99 of upstream connect and probe time', () => {
    for (const quantile of ['0.5', '0.99']) {
      expect(metrics).toContainEqual([
        namespace,
        EXPORTED_METRICS.upstreamConnect.name,
        'quantile',
        quantile,
      ]);
      expect(metrics).toContainEqual([
        namespace,
        EXPORTED_METRICS.probeLatency.name,
        'mode',
        'tunnel',
        'quantile',
        quantile,
      ]);
    }
  });

  it("draws only metrics the agent config exports or the stack's metric filters write, with their dimension sets", () => {
    const ours = metrics.filter((m) => m[0] === namespace);
    expect(ours.length).toBeGreaterThan(0);
    const filtered = Object.values(template.findResources('AWS::Logs::MetricFilter')).flatMap(
      (f) =>
        (
          f as {
            Properties: { MetricTransformations: { MetricName: string; Dimensions?: { Key: string }[] }[] };
          }
        ).Properties.MetricTransformations,
    );
    for (const [, name, ...pairs] of ours) {
      const dimensions = pairs.filter((_, i) => i % 2 === 0);
      const fromFilter = filtered.find((t) => t.MetricName === name);
      if (fromFilter) {
        expect(dimensions, name).toEqual((fromFilter.Dimensions ?? []).map((d) => d.Key));
        continue;
      }
      const metric = Object.values(EXPORTED_METRICS).find((m) => m.name === name);
      expect(metric, name).toBeDefined();
      const declared = [
        ...metric!.scopes.map((scope) =>
          [
            ...(scope === 'zone' ? ['availability_zone'] : scope === 'instance' ? ['instance_id'] : []),
            ...metric!.by,
          ].join(','),
        ),
        ...('fleetBreakdowns' in metric! ? metric.fleetBreakdowns.map((labels) => labels.join(',')) : []),
      ];
      expect(declared, `${name} by ${dimensions.join(',')}`).toContain(dimensions.join(','));
    }
    const searches = expressions.filter((e) => e.startsWith('SEARCH('));
    expect(searches).toHaveLength(3);
    for (const expression of searches) {
      const name = /MetricName="([^"]+)"/.exec(expression)?.[1];
      expect(exportedNames, expression).toContain(name);
      expect(expression).toContain(`{${namespace},`);
    }
  });

  it("lists every alarm of the stack: the fleet's, and the policy's in its own row", () => {
    const listed = (title: string): unknown[] =>
      body.widgets.find((w) => w.properties.title === title)!.properties.alarms as unknown[];
    expect([...listed('Alarms'), ...listed('Policy alarms')]).toHaveLength(
      Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length,
    );
  });

  const withoutDashboard = [false, 'false'].map(
    (value) => [value, Template.fromStack(buildApp({ 'egressProxy:dashboard': value }).stack)] as const,
  );
  it.each(withoutDashboard)('is left out with egressProxy:dashboard = %j', (_value, off) => {
    off.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  });
});
