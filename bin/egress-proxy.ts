#!/usr/bin/env node
// The CDK app: reads the settings from cdk.json context and creates the stack. No logic here,
// and nothing but the package's public API (lib/index.ts), as any other app would use it.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EgressProxyStack, settingsFromContext } from '../lib/index.js';

const app = new App();
// Every synth and deploy is checked against cdk-nag's AwsSolutions pack; findings fail the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const settings = settingsFromContext(app.node);
new EgressProxyStack(app, 'EgressProxy', {
  settings,
  description: 'Egress proxy: internal NLB, self-healing proxy fleet and its baked image',
  // Environment-agnostic by default (no lookups, no credentials); importing a VPC needs a real one.
  env: settings.vpcId
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined,
});
