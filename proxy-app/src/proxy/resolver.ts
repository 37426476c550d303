import { lookup as systemLookup } from 'node:dns/promises';
import { parseIp, type IpBytes } from '../policy/ip.js';
import { ProxyError } from './errors.js';

type Lookup = (host: string) => Promise<readonly string[]>;

/**
 * getaddrinfo blocks a libuv pool thread for as long as DNS takes, and libuv runs at most half its
 * pool on such "slow" work, keeping the rest for file writes (the log) and crypto. The primary
 * sizes the pool (UV_THREADPOOL_SIZE, unless the environment sets it) so that LOOKUP_THREADS
 * lookups run at once per worker; the default pool of 4 would allow 2.
 */
export const THREADPOOL_SIZE = 32;
/** Lookups one client may have running at once, so another client's new name finds a thread. */
const SHARE_PER_CLIENT = 0.5;
/** Lookups waiting for a thread, per worker; beyond, a new name is refused at once (503 dns_busy). */
export const MAX_WAITING = 1_024;
const MAX_ENTRIES = 10_000;

/** Lookups that run at once: what libuv gives slow work with this process's pool. */
function lookupThreads(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.floor((pool + 1) / 2));
}

const getaddrinfo: Lookup = async (host) =>
  (await systemLookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

interface Answer {
  readonly addresses?: IpBytes[];
  readonly failure?: ProxyError;
  readonly expires: number;
}

interface Pending {
  readonly host: string;
  readonly client: string;
  readonly promise: Promise<IpBytes[]>;
  settle: (answer: Answer) => void;
  /** The latest moment anyone still waits for this answer. */
  wantedUntil: number;
}

export interface ResolverOptions {
  readonly cacheMs: number;
  readonly negativeCacheMs: number;
}

/**
 * The system resolver (getaddrinfo: /etc/hosts, search domains, nsswitch) with what it lacks:
 * answers are cached for `cacheMs` (it reports no TTLs) and failures for `negativeCacheMs`;
 * concurrent asks for one name share a lookup; lookups are bounded by the threads libuv gives
 * them, shared round-robin between clients with each client held to a share, so a flood of
 * unique names from one client delays that client, not the others. A cached name never waits.
 */
export class Resolver {
  private readonly answers = new Map<string, Answer>();
  private readonly pending = new Map<string, Pending>();
  /** Waiting lookups per client; the map's order is the round-robin order. */
  private readonly waiting = new Map<string, Pending[]>();
  private readonly runningPerClient = new Map<string, number>();
  private readonly threads = lookupThreads();
  private readonly perClient = Math.max(1, Math.floor(this.threads * SHARE_PER_CLIENT));
  private running = 0;
  private waitingCount = 0;

  constructor(
    private readonly options: ResolverOptions,
    private readonly lookup: Lookup = getaddrinfo,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** The cached answer for `host`, if there is a fresh one: addresses, or the failure to repeat. */
  cached(host: string): IpBytes[] | ProxyError | undefined {
    const answer = this.answers.get(host);
    if (!answer || answer.expires <= this.now()) return undefined;
    return answer.addresses ?? answer.failure;
  }

  /** Resolves `host` for `client`; whoever waits past `until` (a `now()` time) gives up on it. */
  resolve(host: string, client: string, until: number): Promise<IpBytes[]> {
    const cached = this.cached(host);
    if (cached instanceof ProxyError) return Promise.reject(cached);
    if (cached) return Promise.resolve(cached);
    const pending = this.pending.get(host);
    if (pending) {
      pending.wantedUntil = Math.max(pending.wantedUntil, until);
      return pending.promise;
    }
    if (this.waitingCount >= MAX_WAITING) {
      return Promise.reject(
        new ProxyError('dns_busy', `the proxy is resolving too many names; retry ${host} later`, {
          detail: `${MAX_WAITING} lookups waiting`,
        }),
      );
    }
    let settle!: Pending['settle'];
    const promise = new Promise<IpBytes[]>((resolve, reject) => {
      settle = (answer) => (answer.addresses ? resolve(answer.addresses) : reject(answer.failure));
    });
    const lookup: Pending = { host, client, promise, settle, wantedUntil: until };
    this.pending.set(host, lookup);
    const queue = this.waiting.get(client);
    if (queue) queue.push(lookup);
    else this.waiting.set(client, [lookup]);
    this.waitingCount++;
    this.startWaiting();
    return promise;
  }

  private startWaiting(): void {
    while (this.running < this.threads) {
      const next = this.nextWaiting();
      if (!next) return;
      if (next.wantedUntil <= this.now()) {
        this.finish(next, { failure: resolutionTimedOut(next.host), expires: 0 });
        continue;
      }
      void this.run(next);
    }
  }

  /** The next lookup in round-robin order among clients still under their share. */
  private nextWaiting(): Pending | undefined {
    for (const [client, queue] of this.waiting) {
      if ((this.runningPerClient.get(client) ?? 0) >= this.perClient) continue;
      const next = queue.shift()!;
      this.waitingCount--;
      this.waiting.delete(client);
      if (queue.length > 0) this.waiting.set(client, queue);
      return next;
    }
    return undefined;
  }

  private async run(lookup: Pending): Promise<void> {
    this.running++;
    this.runningPerClient.set(lookup.client, (this.runningPerClient.get(lookup.client) ?? 0) + 1);
    const answer = await this.ask(lookup.host);
    this.running--;
    const left = this.runningPerClient.get(lookup.client)! - 1;
    if (left === 0) this.runningPerClient.delete(lookup.client);
    else this.runningPerClient.set(lookup.client, left);
    this.remember(lookup.host, answer);
    this.finish(lookup, answer);
    this.startWaiting();
  }

  private async ask(host: string): Promise<Answer> {
    let answers: readonly string[];
    try {
      answers = await this.lookup(host);
    } catch (error) {
      return { failure: lookupFailure(host, error), expires: this.now() + this.options.negativeCacheMs };
    }
    const addresses = answers.map((answer) => parseIp(answer)).filter((ip): ip is IpBytes => ip !== null);
    if (addresses.length === 0) {
      return {
        failure: new ProxyError('name_not_found', `${host} has no addresses`),
        expires: this.now() + this.options.negativeCacheMs,
      };
    }
    return { addresses, expires: this.now() + this.options.cacheMs };
  }

  private remember(host: string, answer: Answer): void {
    const ttl = answer.addresses ? this.options.cacheMs : this.options.negativeCacheMs;
    if (ttl <= 0) return;
    if (this.answers.size >= MAX_ENTRIES) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(host, answer);
  }

  private finish(lookup: Pending, answer: Answer): void {
    this.pending.delete(lookup.host);
    lookup.settle(answer);
  }
}

function lookupFailure(host: string, error: unknown): ProxyError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'ENODATA') {
    return new ProxyError('name_not_found', `${host} does not resolve`, { cause: error, detail: code });
  }
  return new ProxyError('dns_error', `resolving ${host} failed`, {
    cause: error,
    detail: code ?? String(error),
  });
}

/** The answer for a caller whose deadline passed while `host` was still being resolved. */
export function resolutionTimedOut(host: string): ProxyError {
  return new ProxyError('dns_timeout', `resolving ${host} took too long`);
}
