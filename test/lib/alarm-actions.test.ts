import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { settingsFromContext } from '../../lib/settings.js';
import { buildApp } from './helpers.js';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ops-alarms';

interface AlarmProps {
  AlarmActions?: unknown[];
  OKActions?: unknown[];
}
const alarms = (template: Template) =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
    (a) => (a as { Properties: AlarmProps }).Properties,
  );

describe('alarm actions from settings', () => {
  // Synthesized once per file, outside the tests: synth is the slow part on a loaded machine.
  const byDefault = Template.fromStack(buildApp().stack);
  const toTopic = Template.fromStack(buildApp({ 'egressProxy:alarmTopicArn': TOPIC }).stack);
  const byEmail = buildApp({ 'egressProxy:alarmEmail': 'ops@example.com' });
  const toBoth = Template.fromStack(
    buildApp({ 'egressProxy:alarmTopicArn': TOPIC, 'egressProxy:alarmEmail': 'ops@example.com' }).stack,
  );

  it('sends nothing anywhere by default', () => {
    byDefault.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of alarms(byDefault)) expect(alarm.AlarmActions).toBeUndefined();
  });

  it('with alarmTopicArn, every alarm notifies the topic on ALARM and OK', () => {
    const all = alarms(toTopic);
    expect(all.length).toBeGreaterThanOrEqual(4);
    for (const alarm of all) {
      expect(alarm.AlarmActions).toEqual([TOPIC]);
      expect(alarm.OKActions).toEqual([TOPIC]);
    }
  });

  it('with alarmEmail, a topic with that e-mail subscription, and every alarm notifies it', () => {
    const template = Template.fromStack(byEmail.stack);
    const topics = Object.keys(template.findResources('AWS::SNS::Topic'));
    expect(topics).toHaveLength(1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topics[0] },
    });
    for (const alarm of alarms(template)) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topics[0] }]);
      expect(alarm.OKActions).toEqual([{ Ref: topics[0] }]);
    }
    // The new topic passes cdk-nag: SSL enforced, SNS2 acknowledged with its reason.
    const report = JSON.parse(
      readFileSync(join(byEmail.app.synth().directory, 'validation-report.json'), 'utf8'),
    ) as { pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[] };
    const nag = report.pluginReports.find((r) => r.pluginName === 'AwsSolutions')!;
    expect(nag.violations).toEqual([]);
    expect(nag.conclusion).toBe('success');
  });

  it('with both, every alarm notifies both', () => {
    for (const alarm of alarms(toBoth)) expect(alarm.AlarmActions).toHaveLength(2);
  });

  it.each([
    [
      'egressProxy:alarmTopicArn',
      'ops-alarms',
      /egressProxy:alarmTopicArn" must be an SNS topic ARN, got "ops-alarms"/,
    ],
    ['egressProxy:alarmEmail', 'ops.example.com', /egressProxy:alarmEmail" must be an e-mail address/],
    ['egressProxy:dashboard', 'yes', /egressProxy:dashboard" must be true or false, got "yes"/],
  ])('rejects %s = %j, naming the key', (key, value, message) => {
    const app = new App({ context: { 'egressProxy:allow': ['example.com'], [key]: value } });
    expect(() => settingsFromContext(app.node)).toThrow(message);
  });
});
