import { ConfigError, parsePolicyDocument } from '../../config/index.js';
import type { Logger } from '../../log/logger.js';
import { policyVersion } from '../../policy/version.js';
import type { Clock } from '../lifecycle/clock.js';
import type { PolicyPoll } from './appconfig.js';
import { PolicyAgentError, type PolicyProblemCode } from './errors.js';
import { readTextIfExists, restoreFile, writeFileAtomically } from './policy-file.js';
import { uniformVersion, type WorkerVersions } from './proxy-policy.js';

/** Where the policy in force came from: AppConfig, the boot parameter, or a file an earlier run left. */
export type PolicySource = 'appconfig' | 'boot-parameter' | 'file';

export interface PolicyProblem {
  readonly code: PolicyProblemCode;
  readonly message: string;
  /** ISO time of the first failure in a row with this code. */
  readonly since: string;
}

/** What the agent reports in /healthcheck and /livez (the version in force is asked of the proxy). */
export interface PolicyStatus {
  /** null: no policy applied by the agent yet; the config's own lists are in force. */
  readonly source: PolicySource | null;
  /** Version of the document the agent last put in force. */
  readonly version: string | null;
  /** AppConfig's version label of that document. */
  readonly label: string | null;
  readonly appliedAt: string | null;
  /** Last time AppConfig answered. */
  readonly polledAt: string | null;
  /** The latest failure; null when the last attempt of every kind succeeded. */
  readonly problem: PolicyProblem | null;
}

export interface PolicyAgentOptions {
  /** The policy file the proxy overlays on its config (config `policy.file`). */
  readonly file: string;
  readonly appConfig?: { poll(): Promise<PolicyPoll> };
  readonly bootParameter?: { read(): Promise<string> };
  readonly proxy: { reload(): Promise<string>; workerVersions(): Promise<WorkerVersions | null> };
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long a starting agent waits for AppConfig before it reads the boot parameter. */
  readonly bootWaitMs: number;
  /** Longest wait between attempts after failures (and between polls without AppConfig). */
  readonly maxRetryMs: number;
  /** How long the workers get to report a reloaded version. @default 5000 */
  readonly confirmMs?: number;
}

interface Applied {
  readonly version: string;
  source: PolicySource;
  label: string | null;
  readonly at: string;
  /** The policy file's text as applied, to put back if a later reload is refused. */
  readonly text: string;
}

type Pending = Omit<Applied, 'at'>;

/** The log line `fleet status` looks for (see fleet-cli); its fields are `policyVersion`, `source`, `label`. */
export const POLICY_IN_FORCE_MESSAGE = 'policy in force';

const FIRST_RETRY_MS = 500;
const CONFIRM_POLL_MS = 100;

/**
 * Keeps the proxy on the deployed policy. At start it adopts a policy file an earlier run left,
 * then asks AppConfig (for up to `bootWaitMs`), and only if no policy is in force after that reads
 * the boot parameter; from then on it polls AppConfig at the pace AppConfig asks for. Every
 * document is checked with the proxy's own `parsePolicyDocument`, written atomically, applied by
 * the proxy's reload, and confirmed by the version every worker reports. An invalid, unreachable
 * or refused policy leaves the one in force and is reported (log line with its code, status);
 * nothing here throws out of the loop or touches `/healthcheck`'s answer.
 */
export class PolicyAgent {
  private applied: Applied | undefined;
  private pending: Pending | undefined;
  private rejectedText: string | undefined;
  private problem: PolicyProblem | null = null;
  private polledAt: string | null = null;
  private retryMs = FIRST_RETRY_MS;
  private reportedInForce: string | null = null;

  constructor(private readonly options: PolicyAgentOptions) {}

  status(): PolicyStatus {
    return {
      source: this.applied?.source ?? null,
      version: this.applied?.version ?? null,
      label: this.applied?.label ?? null,
      appliedAt: this.applied?.at ?? null,
      polledAt: this.polledAt,
      problem: this.problem,
    };
  }

  /** True once a policy from a source (not the config's own lists) runs on every worker. */
  async ready(): Promise<boolean> {
    if (!this.applied) return false;
    return uniformVersion(await this.options.proxy.workerVersions()) === this.applied.version;
  }

  /** Runs forever; a failure is reported and the next round goes ahead. */
  async run(): Promise<never> {
    let delayMs = this.options.maxRetryMs;
    try {
      this.adoptFile();
      delayMs = await this.boot();
    } catch (error) {
      this.report(error);
    }
    for (;;) {
      await this.options.clock.sleep(delayMs);
      try {
        delayMs = await this.tick();
      } catch (error) {
        this.report(error);
        delayMs = this.options.maxRetryMs;
      }
    }
  }

  /** A valid policy file from an earlier run is what the proxy loaded at start: it counts as in force. */
  private adoptFile(): void {
    const text = readTextIfExists(this.options.file);
    if (text === null) return;
    const version = this.parse(text)?.version;
    if (version === undefined) return;
    this.applied = { version, source: 'file', label: null, at: new Date().toISOString(), text };
    this.options.logger.info({ policyVersion: version, file: this.options.file }, 'policy file found');
  }

  /** The first fetches; returns the delay before the first regular poll. */
  private async boot(): Promise<number> {
    const { appConfig, clock, bootWaitMs } = this.options;
    const deadline = clock.now() + bootWaitMs;
    // Without an answer, keep backing off from where the boot attempts got to.
    let delayMs = appConfig ? this.retryMs : this.options.maxRetryMs;
    if (appConfig) {
      for (;;) {
        const poll = await this.pollAppConfig();
        if (poll) {
          delayMs = poll.nextPollMs;
          break;
        }
        if (clock.now() + this.retryMs > deadline) break;
        await clock.sleep(this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, this.options.maxRetryMs);
        delayMs = this.retryMs;
      }
    }
    await this.settleAndFallBack();
    await this.reportInForce();
    return delayMs;
  }

  /** One regular round; returns the delay before the next one. */
  private async tick(): Promise<number> {
    let delayMs = this.options.maxRetryMs;
    if (this.options.appConfig) {
      const poll = await this.pollAppConfig();
      delayMs = poll ? poll.nextPollMs : this.retryMs;
      this.retryMs = poll ? FIRST_RETRY_MS : Math.min(this.retryMs * 2, this.options.maxRetryMs);
    }
    await this.settleAndFallBack();
    await this.reportInForce();
    return delayMs;
  }

  /** Retries a reload not yet confirmed, and reads the boot parameter while no policy is in force. */
  private async settleAndFallBack(): Promise<void> {
    if (this.pending) await this.settle();
    if (!this.applied && !this.pending && this.options.bootParameter) {
      try {
        await this.consider(await this.options.bootParameter.read(), 'boot-parameter', null);
      } catch (error) {
        this.report(error);
      }
    }
  }

  /** One GetLatestConfiguration; a new document is applied. Null when AppConfig did not answer. */
  private async pollAppConfig(): Promise<PolicyPoll | null> {
    let poll: PolicyPoll;
    try {
      poll = await this.options.appConfig!.poll();
    } catch (error) {
      this.report(error);
      return null;
    }
    this.polledAt = new Date().toISOString();
    if (this.problem?.code === 'EGRESS_POLICY_UNREACHABLE') this.problem = null;
    if (poll.text !== null) await this.consider(poll.text, 'appconfig', poll.label);
    return poll;
  }

  /** Validates a document and, if it is a new version, writes it and has the proxy apply it. */
  private async consider(text: string, source: PolicySource, label: string | null): Promise<void> {
    if (text === this.rejectedText) return;
    const parsed = this.parse(text);
    if (parsed === null) {
      this.rejectedText = text;
      return;
    }
    const { version, fileText } = parsed;
    if (!this.pending && this.applied?.version === version) {
      // Same policy, now confirmed by (or adopted from) this source.
      Object.assign(this.applied, { source, label });
      return;
    }
    try {
      writeFileAtomically(this.options.file, fileText);
    } catch (error) {
      this.report(
        new PolicyAgentError(
          'EGRESS_POLICY_WRITE_FAILED',
          `cannot write ${this.options.file}: ${(error as Error).message}`,
        ),
      );
      return;
    }
    this.pending = { version, source, label, text: fileText };
    this.options.logger.info(
      { policyVersion: version, source, label },
      'policy written; reloading the proxy',
    );
    await this.settle();
  }

  /** Has the proxy reload the written file and waits until every worker reports its version. */
  private async settle(): Promise<void> {
    const pending = this.pending!;
    const { proxy, clock, logger } = this.options;
    try {
      await proxy.reload();
    } catch (error) {
      this.report(error);
      if (error instanceof PolicyAgentError && error.code === 'EGRESS_POLICY_RELOAD_REFUSED') {
        // Never leave a file the proxy refused where its next start would read it.
        this.pending = undefined;
        try {
          restoreFile(this.options.file, this.applied?.text ?? null);
        } catch (restoreError) {
          this.report(
            new PolicyAgentError(
              'EGRESS_POLICY_WRITE_FAILED',
              `cannot restore ${this.options.file}: ${(restoreError as Error).message}`,
            ),
          );
        }
      }
      return;
    }
    const deadline = clock.now() + (this.options.confirmMs ?? 5_000);
    while (uniformVersion(await proxy.workerVersions()) !== pending.version) {
      if (clock.now() >= deadline) {
        this.report(
          new PolicyAgentError(
            'EGRESS_POLICY_NOT_CONFIRMED',
            `the proxy accepted version ${pending.version} but its workers did not all report it`,
          ),
        );
        return;
      }
      await clock.sleep(CONFIRM_POLL_MS);
    }
    const previous = this.applied?.version ?? null;
    this.applied = { ...pending, at: new Date().toISOString() };
    this.pending = undefined;
    this.problem = null;
    logger.info(
      { policyVersion: pending.version, previous, source: pending.source, label: pending.label },
      'policy applied',
    );
    await this.reportInForce();
  }

  /**
   * Logs the version the proxy reports whenever it changes (an apply, a proxy restart, a reload
   * someone else asked for). The log reaches CloudWatch Logs, where `fleet status` reads it: the
   * instance needs no permission to report, and nothing has to reach the instance to ask.
   */
  private async reportInForce(): Promise<void> {
    const version = uniformVersion(await this.options.proxy.workerVersions());
    if (version === null || version === this.reportedInForce) return;
    this.reportedInForce = version;
    this.options.logger.info(
      {
        policyVersion: version,
        source: this.applied?.version === version ? this.applied.source : null,
        label: this.applied?.version === version ? this.applied.label : null,
      },
      POLICY_IN_FORCE_MESSAGE,
    );
  }

  /**
   * The document's version and the canonical text the policy file gets, or null (reported) when
   * it is not a valid policy.
   */
  private parse(text: string): { version: string; fileText: string } | null {
    try {
      const document = parsePolicyDocument(JSON.parse(text));
      return { version: policyVersion(document), fileText: `${JSON.stringify(document, null, 2)}\n` };
    } catch (error) {
      const problem = error instanceof ConfigError ? error.message : `not JSON: ${(error as Error).message}`;
      this.report(new PolicyAgentError('EGRESS_POLICY_INVALID', `policy refused, ${problem}`));
      return null;
    }
  }

  private report(thrown: unknown): void {
    const error =
      thrown instanceof PolicyAgentError
        ? thrown
        : new PolicyAgentError('EGRESS_POLICY_AGENT_FAILED', String((thrown as Error)?.stack ?? thrown));
    const since = this.problem?.code === error.code ? this.problem.since : new Date().toISOString();
    this.problem = { code: error.code, message: error.message, since };
    this.options.logger.warn(
      { code: error.code, problem: error.message, policyVersion: this.applied?.version ?? null },
      'policy problem; keeping the policy in force',
    );
  }
}
