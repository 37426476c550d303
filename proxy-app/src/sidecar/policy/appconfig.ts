import {
  GetLatestConfigurationCommand,
  StartConfigurationSessionCommand,
  type AppConfigDataClient,
} from '@aws-sdk/client-appconfigdata';
import type { AppConfigSource } from '../../config/schema.js';
import { describeAwsError, PolicyAgentError } from './errors.js';

/** One answer of AppConfig's data plane. */
export interface PolicyPoll {
  /** The deployed policy document; null when AppConfig has nothing newer for this session. */
  readonly text: string | null;
  /** The hosted configuration version's label (the CDK app sets it to the policy's version). */
  readonly label: string | null;
  /** When AppConfig wants the next poll (its `NextPollIntervalInSeconds`). */
  readonly nextPollMs: number;
}

/**
 * Polls AppConfig's data API: one configuration session (StartConfigurationSession), then
 * GetLatestConfiguration with the token each answer hands over, at the pace each answer asks for.
 * An empty configuration means the session already has the latest version. After any failure the
 * next poll starts a new session (a token is good for one call, and a new session's first answer
 * carries the full document, so nothing is missed).
 */
export class AppConfigPolicySource {
  private token: string | undefined;

  constructor(
    private readonly client: AppConfigDataClient,
    private readonly source: AppConfigSource,
  ) {}

  async poll(): Promise<PolicyPoll> {
    try {
      this.token ??= await this.startSession();
      const answer = await this.client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: this.token }),
      );
      this.token = answer.NextPollConfigurationToken;
      const bytes = answer.Configuration;
      return {
        text: bytes && bytes.length > 0 ? Buffer.from(bytes).toString('utf8') : null,
        label: answer.VersionLabel || null,
        nextPollMs: (answer.NextPollIntervalInSeconds ?? this.source.pollIntervalSeconds) * 1000,
      };
    } catch (error) {
      this.token = undefined;
      throw new PolicyAgentError('EGRESS_POLICY_UNREACHABLE', `AppConfig: ${describeAwsError(error)}`, {
        cause: error,
      });
    }
  }

  private async startSession(): Promise<string> {
    const session = await this.client.send(
      new StartConfigurationSessionCommand({
        ApplicationIdentifier: this.source.application,
        EnvironmentIdentifier: this.source.environment,
        ConfigurationProfileIdentifier: this.source.profile,
        RequiredMinimumPollIntervalInSeconds: this.source.pollIntervalSeconds,
      }),
    );
    if (!session.InitialConfigurationToken) throw new Error('StartConfigurationSession returned no token');
    return session.InitialConfigurationToken;
  }
}
