import { Annotations, Template, Match, Capture } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { POLICY_TAGS } from '../../lib/policy-tags.js';
import { policyJsonSchema } from '../../proxy-app/src/config/index.js';
import { policyVersion } from '../../proxy-app/src/policy/version.js';
import { buildApp } from './helpers.js';

const FIRST = { 'egressProxy:allow': ['example.com', '*.example.org'] };
const SECOND = {
  'egressProxy:allow': ['example.com', '*.example.org', 'registry.npmjs.org'],
  'egressProxy:allowPorts': [443],
  'egressProxy:allowCidrs': ['10.20.0.0/16'],
};

const templateOf = (context: Record<string, unknown>): Template =>
  Template.fromStack(buildApp(context).stack);
const first = templateOf(FIRST);
const second = templateOf(SECOND);
const ofType = (template: Template, type: string): Record<string, unknown> => template.findResources(type);

describe('a deploy that changes only the policy', () => {
  it('leaves the launch template, its user data and the group identical', () => {
    for (const type of ['AWS::EC2::LaunchTemplate', 'AWS::AutoScaling::AutoScalingGroup', 'AWS::IAM::Role']) {
      expect(ofType(second, type), type).toEqual(ofType(first, type));
    }
  });

  const changedTypes = (from: Template, to: Template): string[] => {
    const resources = (template: Template) => template.toJSON().Resources as Record<string, { Type: string }>;
    return Object.keys(resources(from))
      .filter((id) => JSON.stringify(resources(from)[id]) !== JSON.stringify(resources(to)[id]))
      .map((id) => resources(from)[id]!.Type)
      .sort();
  };

  it('changes the hosted configuration version and the boot parameter, and nothing else', () => {
    const namesOnly = templateOf({ 'egressProxy:allow': ['example.com', 'registry.npmjs.org'] });
    expect(changedTypes(first, namesOnly)).toEqual([
      'AWS::AppConfig::HostedConfigurationVersion',
      'AWS::SSM::Parameter',
    ]);
  });

  it("also changes the instances' security group egress when the ports the policy reaches change", () => {
    // SECOND drops port 80 from allowPorts: the instances may no longer send to it.
    expect(changedTypes(first, second)).toEqual([
      'AWS::AppConfig::HostedConfigurationVersion',
      'AWS::EC2::SecurityGroup',
      'AWS::SSM::Parameter',
    ]);
  });

  it('starts a new deployment: the hosted version is replaced (its content is create-only) and the deployment names it', () => {
    const hosted = Object.keys(ofType(first, 'AWS::AppConfig::HostedConfigurationVersion'))[0]!;
    // A new version number for the deployment's create-only ConfigurationVersion: CloudFormation
    // replaces the deployment, which starts one (AWS::AppConfig::Deployment calls StartDeployment).
    first.hasResourceProperties('AWS::AppConfig::Deployment', { ConfigurationVersion: { Ref: hosted } });
  });
});

describe('the policy in AppConfig', () => {
  const policy = { allow: ['example.com', '*.example.org'], allowPorts: [80, 443], allowCidrs: [] };

  it('hosts the policy as JSON, labelled with its version, kept when replaced', () => {
    const versions = Object.values(ofType(first, 'AWS::AppConfig::HostedConfigurationVersion')) as {
      Properties: Record<string, unknown>;
      DeletionPolicy?: string;
    }[];
    expect(versions).toHaveLength(1);
    expect(JSON.parse(versions[0]!.Properties.Content as string)).toEqual(policy);
    expect(versions[0]!.Properties).toMatchObject({
      ContentType: 'application/json',
      VersionLabel: `policy-${policyVersion(policy)}`,
    });
    expect(versions[0]!.DeletionPolicy).toBe('Retain');
  });

  it("validates it with the JSON Schema generated from proxy-app's config module", () => {
    first.hasResourceProperties('AWS::AppConfig::ConfigurationProfile', {
      Validators: [{ Type: 'JSON_SCHEMA', Content: JSON.stringify(policyJsonSchema()) }],
    });
  });

  it('deploys all at once and bakes 15 minutes under the denied-share alarm, after the group exists', () => {
    first.hasResourceProperties('AWS::AppConfig::DeploymentStrategy', {
      DeploymentDurationInMinutes: 0,
      GrowthFactor: 100,
      FinalBakeTimeInMinutes: 15,
    });
    const alarm = Object.keys(ofType(first, 'AWS::CloudWatch::Alarm')).find((id) =>
      id.includes('DeniedShare'),
    )!;
    first.hasResourceProperties('AWS::AppConfig::Environment', {
      Monitors: [{ AlarmArn: { 'Fn::GetAtt': [alarm, 'Arn'] }, AlarmRoleArn: Match.anyValue() }],
      DeletionProtectionCheck: 'BYPASS',
    });
    const group = Object.keys(ofType(first, 'AWS::AutoScaling::AutoScalingGroup'))[0]!;
    const deployment = Object.values(ofType(first, 'AWS::AppConfig::Deployment'))[0] as {
      DependsOn: string[];
    };
    expect(deployment.DependsOn).toContain(group);
  });

  it('keeps the same policy in the boot parameter', () => {
    const parameter = Object.values(ofType(first, 'AWS::SSM::Parameter'))[0] as {
      Properties: { Value: string; Tier: string };
    };
    expect(JSON.parse(parameter.Properties.Value)).toEqual(policy);
    expect(parameter.Properties.Tier).toBe('Intelligent-Tiering');
  });
});

describe('the instances', () => {
  it('name the policy source in their config and carry no allowlist of their own', () => {
    const data = Object.values(ofType(first, 'AWS::EC2::LaunchTemplate'))[0] as {
      Properties: { LaunchTemplateData: { UserData: { 'Fn::Base64': { 'Fn::Join': [string, unknown[]] } } } };
    };
    const parts = data.Properties.LaunchTemplateData.UserData['Fn::Base64']['Fn::Join'][1];
    const script = parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
    expect(script).not.toContain('example.org');
    const start = script.indexOf("<<'EGRESS_PROXY_CONFIG'\n") + "<<'EGRESS_PROXY_CONFIG'\n".length;
    const json = script.slice(start, script.indexOf('\nEGRESS_PROXY_CONFIG\n'));
    // Tokens render as {"Ref": ...} inside the JSON text; they are names, never content.
    expect(json).toMatch(/"allow": \[\]/);
    expect(json).toMatch(/"file": "\/var\/lib\/egress-proxy\/policy.json"/);
    expect(json).toMatch(/"application": "\{"Ref":"PolicyApplication/);
    expect(json).toMatch(/"bootParameter": "\{"Ref":"PolicyBootPolicy/);
  });

  it('may poll exactly this configuration and read exactly this parameter', () => {
    const statements = new Capture();
    first.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('PolicyInstancePolicy'),
      PolicyDocument: { Statement: statements },
    });
    const [poll, read] = statements.asArray() as { Action: unknown; Resource: unknown }[];
    expect(poll!.Action).toEqual(['appconfig:StartConfigurationSession', 'appconfig:GetLatestConfiguration']);
    expect(JSON.stringify(poll!.Resource)).toMatch(
      /application\/",\{"Ref":"PolicyApplication\w+"\},"\/environment\/",\{"Ref":"PolicyEnvironment\w+"\},"\/configuration\/",\{"Ref":"PolicyConfigurationProfile\w+"\}/,
    );
    expect(read!.Action).toBe('ssm:GetParameter');
    expect(JSON.stringify(read!.Resource)).toMatch(/parameter\/?",\{"Ref":"PolicyBootPolicy/);
  });

  it('tag the group with where fleet status finds the policy', () => {
    first.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      Tags: Match.arrayWith([
        Match.objectLike({ Key: POLICY_TAGS.appConfig, PropagateAtLaunch: false }),
        Match.objectLike({ Key: POLICY_TAGS.logGroup, PropagateAtLaunch: false }),
      ]),
    });
  });
});

describe('the allowlist at synth', () => {
  it('warns about a wildcard over cloud storage domains, and not about exact names', () => {
    const warned = buildApp({ 'egressProxy:allow': ['*.amazonaws.com', 's3.eu-west-1.amazonaws.com'] }).stack;
    const warnings = Annotations.fromStack(warned).findWarning('*', Match.stringLikeRegexp('cloud provider'));
    expect(warnings.map((w) => w.entry.data)).toEqual([
      expect.stringContaining(
        'allow pattern "*.amazonaws.com" admits a cloud provider\'s storage for any account',
      ),
    ]);
    expect(
      Annotations.fromStack(buildApp().stack).findWarning('*', Match.stringLikeRegexp('cloud provider')),
    ).toEqual([]);
  });
});
