import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describeAwsError, PolicyAgentError } from './errors.js';

/**
 * The boot fallback policy: an SSM parameter the stack keeps equal to the policy it deployed, read
 * only while no policy is in force and AppConfig has given none.
 */
export class BootParameterSource {
  constructor(
    private readonly client: SSMClient,
    private readonly name: string,
  ) {}

  async read(): Promise<string> {
    try {
      const answer = await this.client.send(new GetParameterCommand({ Name: this.name }));
      const value = answer.Parameter?.Value;
      if (!value) throw new Error(`parameter ${this.name} has no value`);
      return value;
    } catch (error) {
      throw new PolicyAgentError(
        'EGRESS_POLICY_UNREACHABLE',
        `boot parameter ${this.name}: ${describeAwsError(error)}`,
        { cause: error },
      );
    }
  }
}
