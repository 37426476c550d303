import { describe, expect, it } from 'vitest';
import { buildApp } from './helpers.js';
import { dependencyClosure, dependencyPath, directDependencies, type CfnTemplate } from './template-graph.js';

/**
 * The first deploy: CloudFormation creates the group's first instances as soon as the group is
 * created, and may hold the group in CREATE_IN_PROGRESS until they are InService (aws-facts.md §9).
 * So everything an instance needs while it boots (its role and every policy on it, the instance
 * profile, the launch template and what the template names: log group, target group, image) must
 * exist before the group, and none of it may wait for the group.
 */
const { app, stack } = buildApp();
const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
const ids = (type: string): string[] =>
  Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id]) => id);
const one = (type: string, prefix: string): string => {
  const found = ids(type).filter((id) => id.startsWith(prefix));
  expect(found, `${type} ${prefix}*`).toHaveLength(1);
  return found[0]!;
};

const group = one('AWS::AutoScaling::AutoScalingGroup', 'FleetGroup');
const role = one('AWS::IAM::Role', 'FleetInstanceRole');
const launchTemplate = one('AWS::EC2::LaunchTemplate', 'FleetLaunchTemplate');
/** Every policy CloudFormation attaches to the instance role (the role's own and separate ones). */
const rolePolicies = ids('AWS::IAM::Policy').filter((id) => directDependencies(template, id).has(role));
const profiles = ids('AWS::IAM::InstanceProfile').filter((id) => directDependencies(template, id).has(role));
const bootNeeds = [launchTemplate, role, ...rolePolicies, ...profiles];

describe('creation order of the first deploy', () => {
  it('finds the instance role, its policies and its instance profile', () => {
    // The lifecycle permissions and the role's default policy (log shipping), at least.
    expect(rolePolicies.length).toBeGreaterThanOrEqual(2);
    expect(profiles).toHaveLength(1);
  });

  it('creates nothing an instance needs at boot after the Auto Scaling group', () => {
    const waitingForGroup = bootNeeds
      .filter((id) => id === group || dependencyClosure(template, [id]).has(group))
      .map((id) => dependencyPath(template, id, group)!.join(' -> '));
    expect(waitingForGroup).toEqual([]);
  });

  it('creates every policy of the instance role before the group', () => {
    const beforeGroup = dependencyClosure(template, [group]);
    expect(rolePolicies.filter((id) => !beforeGroup.has(id))).toEqual([]);
    expect(beforeGroup).toContain(launchTemplate);
    expect(beforeGroup).toContain(profiles[0]);
  });
});

describe('the dependency walker', () => {
  const resource = (body: object) => ({ Type: 'AWS::Test::Thing', ...body });
  const graph: CfnTemplate = {
    Resources: {
      A: resource({
        Properties: { X: { Ref: 'B' }, Y: { Ref: 'AWS::Region' }, Z: { Ref: 'SomeParameter' } },
      }),
      B: resource({ Properties: { X: { 'Fn::GetAtt': ['C', 'Arn'] } } }),
      C: resource({ Properties: { X: { 'Fn::GetAtt': 'D.Arn' } } }),
      D: resource({ Properties: { X: { 'Fn::Sub': 'arn:${AWS::Partition}:x:${E}/${F.Name}/${!G}' } } }),
      E: resource({}),
      F: resource({ DependsOn: 'H' }),
      G: resource({}),
      H: resource({
        DependsOn: ['I'],
        Properties: { X: { 'Fn::Sub': ['${Local}-${J}', { Local: { Ref: 'K' } }] } },
      }),
      I: resource({}),
      J: resource({}),
      K: resource({}),
      Unrelated: resource({}),
    },
  };

  it('follows Ref, both GetAtt forms, Sub with ${X} and ${X.Attr}, Sub variable maps and DependsOn, transitively', () => {
    expect([...dependencyClosure(graph, ['A'])].sort()).toEqual([
      'B',
      'C',
      'D',
      'E',
      'F',
      'H',
      'I',
      'J',
      'K',
    ]);
  });

  it('leaves out pseudo parameters, parameters, ${!Literal} escapes and Sub-local names', () => {
    expect([...directDependencies(graph, 'A')]).toEqual(['B']);
    expect([...directDependencies(graph, 'D')].sort()).toEqual(['E', 'F']);
    expect([...directDependencies(graph, 'H')].sort()).toEqual(['I', 'J', 'K']);
  });

  it('names the path of a dependency', () => {
    expect(dependencyPath(graph, 'A', 'I')).toEqual(['A', 'B', 'C', 'D', 'F', 'H', 'I']);
    expect(dependencyPath(graph, 'A', 'Unrelated')).toBeUndefined();
  });
});
