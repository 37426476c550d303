import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import { EgressProxyValidationError } from './errors.js';
import { INSTANCE_LABEL, type ExportedMetric } from './prometheus-metrics.js';

/** The namespace of a fleet's metrics unless one is given: one per stack. */
export function defaultMetricNamespace(scope: IConstruct): string {
  return `EgressProxy/${Stack.of(scope).stackName}`;
}

export interface FleetMetricsProps {
  /** The instances' role: their CloudWatch agent writes the metric events. */
  readonly role: iam.IGrantable;
  /**
   * CloudWatch namespace of the proxy's and sidecar's metrics (and of the access-log counts).
   * Two fleets in one stack need different namespaces.
   * @default - `EgressProxy/<stack name>`
   */
  readonly namespace?: string;
  /**
   * How long the metric events (EMF log events, every scraped series) are kept. The metrics
   * themselves are kept by CloudWatch for 15 months whatever this is.
   * @default logs.RetentionDays.ONE_WEEK
   */
  readonly retention?: logs.RetentionDays;
}

/**
 * Where the instances' Prometheus metrics go: a log group for the agent's EMF events, from which
 * CloudWatch extracts the metrics in `namespace` (prometheus-metrics.ts says which). A log group of
 * its own, because the events carry the labels as fields (`decision`, ...), which the access log's
 * metric filters would otherwise count.
 */
export class FleetMetrics extends Construct {
  readonly namespace: string;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: FleetMetricsProps) {
    super(scope, id);
    this.namespace = props.namespace ?? defaultMetricNamespace(this);
    const other = Stack.of(this)
      .node.findAll()
      .find((c) => c !== this && c instanceof FleetMetrics && c.namespace === this.namespace);
    if (other) {
      throw new EgressProxyValidationError(
        'namespace',
        `(${this.namespace}) is already used by ${other.node.path}: give each fleet in a stack its own`,
        this,
      );
    }
    this.logGroup = new logs.LogGroup(this, 'Events', {
      retention: props.retention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.logGroup.grant(props.role, 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams');
  }

  /** What user data gives the CloudWatch agent (`proxyUserData`'s `metrics`). */
  get agentTarget(): { readonly namespace: string; readonly logGroupName: string } {
    return { namespace: this.namespace, logGroupName: this.logGroup.logGroupName };
  }

  /** One exported metric with the given dimensions (labels), per minute. */
  metric(
    exported: ExportedMetric,
    dimensions: Record<string, string>,
    options: { statistic: string; label?: string },
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName: exported.name,
      dimensionsMap: dimensions,
      period: Duration.minutes(1),
      ...options,
    });
  }

  /**
   * Every series of a metric with exactly these dimensions, e.g. one per instance: a search
   * expression, because instances (and policy versions) come and go.
   */
  search(
    exported: ExportedMetric,
    dimensions: readonly string[],
    statistic: string,
  ): cloudwatch.MathExpression {
    const schema = [this.namespace, ...dimensions].join(',');
    const last = dimensions.at(-1);
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${schema}} MetricName="${exported.name}"', '${statistic}', 60)`,
      usingMetrics: {},
      // CloudWatch fills in each series' own value of the dimension.
      label: last ? `\${PROP('Dim.${last}')}` : exported.name,
      period: Duration.minutes(1),
    });
  }

  /** Every instance's series of a metric that has no other labels. */
  perInstance(exported: ExportedMetric, statistic: string): cloudwatch.MathExpression {
    return this.search(exported, [INSTANCE_LABEL, ...exported.by], statistic);
  }
}
