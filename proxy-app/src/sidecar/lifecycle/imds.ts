import { request } from 'undici';
import type { Logger } from '../../log/logger.js';
import { systemClock } from './clock.js';
import { retry } from './retry.js';

const TOKEN_TTL_SECONDS = 21_600;
/** Renew the session token this long before it expires. */
const TOKEN_RENEW_MS = 60_000;

export class ImdsError extends Error {
  readonly code = 'EGRESS_IMDS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImdsError';
  }
}

/**
 * Instance metadata over IMDSv2 only: a session token from `PUT /latest/api/token`, then reads
 * with it. (The launch template requires tokens and a hop limit of 1.)
 */
export class Imds {
  private token: { value: string; expires: number } | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 2_000,
  ) {}

  /** The state Auto Scaling is moving this instance to: InService, Terminated, Standby, ... */
  targetLifecycleState(): Promise<string | null> {
    return this.get('/latest/meta-data/autoscaling/target-lifecycle-state');
  }

  async identity(): Promise<{ instanceId: string; region: string; groupName: string }> {
    const [instanceId, region, groupName] = await Promise.all([
      this.get('/latest/meta-data/instance-id'),
      this.get('/latest/meta-data/placement/region'),
      // Needs instance metadata tags (the launch template enables them); user data cannot carry
      // the group's name without a dependency cycle.
      this.get('/latest/meta-data/tags/instance/aws:autoscaling:groupName'),
    ]);
    if (!instanceId || !region || !groupName) {
      throw new ImdsError(
        `instance metadata lacks ${[!instanceId && 'instance-id', !region && 'placement/region', !groupName && 'the aws:autoscaling:groupName tag (are instance metadata tags on?)'].filter(Boolean).join(', ')}`,
      );
    }
    return { instanceId, region, groupName };
  }

  /** A metadata path's text, or null when it does not exist (404). */
  async get(path: string, retried = false): Promise<string | null> {
    const token = await this.sessionToken();
    let response;
    try {
      response = await request(`${this.baseUrl}${path}`, {
        headers: { 'x-aws-ec2-metadata-token': token },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new ImdsError(`reading ${path} failed: ${(error as Error).message}`, { cause: error });
    }
    const text = await response.body.text();
    if (response.statusCode === 401 && !retried) {
      this.token = undefined;
      return this.get(path, true);
    }
    if (response.statusCode === 404) return null;
    if (response.statusCode !== 200) throw new ImdsError(`reading ${path}: HTTP ${response.statusCode}`);
    return text.trim();
  }

  private async sessionToken(): Promise<string> {
    if (this.token && this.token.expires - TOKEN_RENEW_MS > Date.now()) return this.token.value;
    try {
      const response = await request(`${this.baseUrl}/latest/api/token`, {
        method: 'PUT',
        headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const value = (await response.body.text()).trim();
      if (response.statusCode !== 200 || !value) {
        throw new ImdsError(`token request answered HTTP ${response.statusCode}`);
      }
      this.token = { value, expires: Date.now() + TOKEN_TTL_SECONDS * 1000 };
      return value;
    } catch (error) {
      if (error instanceof ImdsError) throw error;
      throw new ImdsError(`no IMDSv2 token: ${(error as Error).message}`, { cause: error });
    }
  }
}

/**
 * Reads metadata that may not be served yet early in a boot: retries with backoff (20 attempts,
 * 0.5 s growing to 15 s) and logs each wait with `waitingMessage`.
 */
export function whenMetadataAnswers<T>(
  read: () => Promise<T>,
  logger: Logger,
  waitingMessage: string,
): Promise<T> {
  return retry(read, {
    clock: systemClock,
    attempts: 20,
    firstDelayMs: 500,
    maxDelayMs: 15_000,
    onRetry: (error, attempt) => logger.warn({ attempt, err: (error as Error).message }, waitingMessage),
  });
}
