/**
 * cdk-nag 3 finding ids for `Validations.of(x).acknowledge({ id, reason })`. Findings are reported
 * as `<pack>::<rule>[<finding>]`; a granular id acknowledges exactly one finding of the rule.
 */
export function managedPolicyFinding(policyName: string): string {
  return `AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policyName}]`;
}
