import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildApp } from './helpers.js';

interface Finding {
  ruleName: string;
  description: string;
  reason?: string;
  violatingConstructs: { constructPath: string }[];
}
interface Report {
  pluginReports: {
    pluginName: string;
    conclusion: string;
    violations: Finding[];
    suppressedViolations?: Finding[];
  }[];
}

// cdk-nag 3 is a CDK policy-validation plugin: an error-level finding makes an in-memory synth
// throw with the report, and every finding (warnings and acknowledged ones too) is written to
// validation-report.json in the cloud assembly. The test reads both.
describe('cdk-nag AwsSolutions', () => {
  const { app } = buildApp();
  const assembly = app.synth();
  const report = JSON.parse(
    readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'),
  ) as Report;
  const nag = report.pluginReports.find((r) => r.pluginName === 'AwsSolutions');

  it('runs and reports no unacknowledged finding (errors or warnings)', () => {
    expect(nag, 'the AwsSolutions plugin did not run').toBeDefined();
    expect(nag!.violations.map((v) => `${v.ruleName} at ${v.violatingConstructs[0]?.constructPath}`)).toEqual(
      [],
    );
    expect(nag!.conclusion).toBe('success');
  });

  it('acknowledges exactly the reviewed findings, each with a real reason', () => {
    const acknowledged = (nag!.suppressedViolations ?? []).map((v) => ({
      rule: v.ruleName,
      at: v.violatingConstructs[0]?.constructPath,
      reason: v.reason ?? '',
    }));
    expect(acknowledged.map(({ rule, at }) => `${rule} at ${at}`).sort()).toEqual([
      'AwsSolutions-AS3 at EgressProxy/Fleet/Group/ASG',
      'AwsSolutions-EC23 at EgressProxy/Fleet/LoadBalancerSecurityGroup/Resource',
      'AwsSolutions-ELB2 at EgressProxy/Fleet/LoadBalancer/Resource',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore] at EgressProxy/Image/BuildRole/Resource',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/EC2InstanceProfileForImageBuilder] at EgressProxy/Image/BuildRole/Resource',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy] at EgressProxy/Image/LifecycleRole/Resource',
      'AwsSolutions-IAM5[Resource::*] at EgressProxy/Fleet/Lifecycle/InstancePolicy/Resource',
      'AwsSolutions-IAM5[Resource::*] at EgressProxy/Fleet/SessionManagerPolicy/Resource',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/<AWS::StackName>-Fleet-9CD8A733] at EgressProxy/Fleet/Lifecycle/InstancePolicy/Resource',
    ]);
    for (const { rule, reason } of acknowledged) expect(reason.length, rule).toBeGreaterThan(40);
  });

  it('fails synth on a finding nobody acknowledged (the check can fail)', () => {
    const bad = new App();
    Validations.of(bad).addPlugins(new AwsSolutionsChecks(bad));
    const stack = new Stack(bad, 'Bad');
    const sg = new ec2.SecurityGroup(stack, 'Open', { vpc: new ec2.Vpc(stack, 'Vpc', { natGateways: 0 }) });
    sg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));
    expect(() => bad.synth()).toThrow(/AwsSolutions-EC23/);
  });
});
