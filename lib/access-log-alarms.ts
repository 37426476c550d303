import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { defaultMetricNamespace } from './fleet-metrics.js';

export interface AccessLogAlarmsProps {
  /** The log group the instances ship the proxy's JSON access log to. */
  readonly logGroup: logs.ILogGroup;
  /**
   * Share of denied requests (0-1) over `period` that raises the alarm.
   * @default 0.5
   */
  readonly deniedShareThreshold?: number;
  /**
   * Requests in a period below which the share is not judged (a few denials at night are not an outage).
   * @default 20
   */
  readonly minimumRequests?: number;
  /** @default Duration.minutes(5) */
  readonly period?: Duration;
  /**
   * Namespace of the two counts.
   * @default - `EgressProxy/<stack name>`
   */
  readonly namespace?: string;
}

/**
 * Counts the access log's decisions and alarms when most requests are denied. Health checks cannot
 * see this failure: the sidecar's probe target is exempt from the allowlist on purpose, so an
 * allowlist that denies every client (a bad rollout) leaves every instance healthy.
 */
export class AccessLogAlarms extends Construct {
  readonly allowedRequests: cloudwatch.Metric;
  readonly deniedRequests: cloudwatch.Metric;
  readonly deniedShareAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AccessLogAlarmsProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);
    const minimumRequests = props.minimumRequests ?? 20;
    const threshold = props.deniedShareThreshold ?? 0.5;
    // Metric filters take no constant dimensions, so the namespace keeps two stacks apart.
    const namespace = props.namespace ?? defaultMetricNamespace(this);
    const count = (decision: 'allowed' | 'denied', name: string): cloudwatch.Metric =>
      new logs.MetricFilter(this, `${name}Filter`, {
        logGroup: props.logGroup,
        filterPattern: logs.FilterPattern.stringValue('$.decision', '=', decision),
        metricNamespace: namespace,
        metricName: name,
        metricValue: '1',
        defaultValue: 0,
      }).metric({ statistic: 'Sum', period });
    this.allowedRequests = count('allowed', 'AllowedRequests');
    this.deniedRequests = count('denied', 'DeniedRequests');

    this.deniedShareAlarm = new cloudwatch.Alarm(this, 'DeniedShare', {
      alarmDescription: `More than ${threshold * 100}% of egress requests denied over ${period.toMinutes()} min. Health checks stay green when the allowlist denies clients: check the last allowlist change.`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(allowed + denied >= ${minimumRequests}, denied / (allowed + denied), 0)`,
        usingMetrics: { allowed: this.allowedRequests, denied: this.deniedRequests },
        period,
        label: 'Share of requests denied',
      }),
      threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
