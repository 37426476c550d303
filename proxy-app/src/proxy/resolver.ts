import { lookup as systemLookup } from 'node:dns/promises';
import { parseIp, type IpBytes } from '../policy/ip.js';
import { ProxyError } from './errors.js';

type Lookup = (host: string) => Promise<readonly string[]>;

const MAX_ENTRIES = 10_000;

const getaddrinfo: Lookup = async (host) =>
  (await systemLookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * The system resolver (getaddrinfo: /etc/hosts, search domains, nsswitch) with a small cache,
 * because getaddrinfo reports no TTLs and runs on libuv's four-thread pool: concurrent lookups of
 * one name share a single call, and answers are reused for `cacheMs`.
 */
export class Resolver {
  private readonly cache = new Map<string, { addresses: IpBytes[]; expires: number }>();
  private readonly inFlight = new Map<string, Promise<IpBytes[]>>();

  constructor(
    private readonly cacheMs: number,
    private readonly lookup: Lookup = getaddrinfo,
    private readonly now: () => number = Date.now,
  ) {}

  resolve(host: string): Promise<IpBytes[]> {
    const cached = this.cache.get(host);
    if (cached && cached.expires > this.now()) return Promise.resolve(cached.addresses);
    let pending = this.inFlight.get(host);
    if (!pending) {
      pending = this.lookupAndCache(host).finally(() => this.inFlight.delete(host));
      this.inFlight.set(host, pending);
    }
    return pending;
  }

  private async lookupAndCache(host: string): Promise<IpBytes[]> {
    let answers: readonly string[];
    try {
      answers = await this.lookup(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') {
        throw new ProxyError('name_not_found', `${host} does not resolve`, { cause: error });
      }
      throw new ProxyError('dns_error', `resolving ${host} failed (${code ?? 'unknown error'})`, {
        cause: error,
      });
    }
    const addresses = answers.map((answer) => parseIp(answer)).filter((ip): ip is IpBytes => ip !== null);
    if (addresses.length === 0) throw new ProxyError('name_not_found', `${host} has no addresses`);
    if (this.cacheMs > 0) {
      if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(host, { addresses, expires: this.now() + this.cacheMs });
    }
    return addresses;
  }
}
