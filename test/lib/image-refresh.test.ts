import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { ProxyImage } from '../../lib/proxy-image.js';
import { buildApp, fixtureBundleDirectory } from './helpers.js';

type Resource = { Properties: Record<string, unknown>; UpdateReplacePolicy?: string };
const only = (template: Template, type: string): Resource => {
  const found = Object.values(template.findResources(type));
  expect(found).toHaveLength(1);
  return found[0] as Resource;
};
const recipeName = (context: Record<string, unknown> = {}) =>
  only(Template.fromStack(buildApp(context).stack), 'AWS::ImageBuilder::ImageRecipe').Properties.Name;

// The parent image (ssm:/aws/service/ami-amazon-linux-latest/...) is resolved when an image is
// built, and the image is rebuilt only when its recipe is replaced, i.e. renamed.
describe('OS updates: egressProxy:imageRefresh', () => {
  const without = recipeName();
  const first = recipeName({ 'egressProxy:imageRefresh': '2026-12-01' });
  const again = recipeName({ 'egressProxy:imageRefresh': '2026-12-01' });
  const next = recipeName({ 'egressProxy:imageRefresh': '2026-12-08' });

  it('renames the recipe (a new image from the newest parent) when the value changes', () => {
    expect(next).not.toEqual(first);
    expect(first).not.toEqual(without);
  });

  it('changes nothing when synthesized again with the same value', () => {
    expect(again).toEqual(first);
    expect(recipeName()).toEqual(without);
  });

  it('rejects a value that is not a short token, naming the key', () => {
    expect(() => recipeName({ 'egressProxy:imageRefresh': 'next week' })).toThrow(
      /egressProxy:imageRefresh" must be up to 64 letters/,
    );
  });
});

describe('old images', () => {
  const template = Template.fromStack(buildApp().stack);

  it('keeps a replaced image (rollback) and tags every image for the retention policy', () => {
    const image = only(template, 'AWS::ImageBuilder::Image');
    expect(image.UpdateReplacePolicy).toBe('Retain');
    const policy = only(template, 'AWS::ImageBuilder::LifecyclePolicy').Properties;
    expect(policy).toMatchObject({
      ResourceType: 'AMI_IMAGE',
      ResourceSelection: { TagMap: image.Properties.Tags },
      PolicyDetails: [
        {
          Action: { Type: 'DELETE', IncludeResources: { Amis: true, Snapshots: true } },
          Filter: { Type: 'COUNT', Value: 3 },
        },
      ],
    });
  });

  it.each([1, 2.5])('rejects keepImages = %j', (keepImages) => {
    const stack = new Stack(new App(), 'S');
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2 });
    expect(
      () => new ProxyImage(stack, 'Image', { vpc, bundleDirectory: fixtureBundleDirectory(), keepImages }),
    ).toThrow(/keepImages \(.*\) must be an integer of at least 2/);
  });
});
