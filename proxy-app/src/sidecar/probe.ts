import { randomBytes } from 'node:crypto';
import { ProxyAgent, request } from 'undici';

export type ProbeMode = 'forward' | 'tunnel';

export interface ModeResult {
  readonly ok: boolean;
  readonly ms: number;
  /** Why the probe failed, for the load balancer's 503 body and the logs. */
  readonly reason?: string;
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly checkedAt: string;
  readonly modes: Readonly<Record<ProbeMode, ModeResult>>;
}

export interface ProberOptions {
  /** The local proxy, e.g. http://127.0.0.1:3128. */
  readonly proxyUrl: string;
  /** The sidecar's own origin, e.g. http://127.0.0.1:8081. */
  readonly targetOrigin: string;
  readonly timeoutMs: number;
  readonly cacheMs: number;
  readonly now?: () => number;
  /** Called with every probe's result (not with cached answers), e.g. to count it. */
  readonly onResult?: (result: ProbeResult) => void;
}

/**
 * Proves the local proxy forwards: fetches the sidecar's own `/target` through it, once as an
 * absolute-form request and once inside a CONNECT tunnel, each with a fresh nonce that must come
 * back. A proxy that accepts TCP and answers 200 without forwarding cannot echo the nonce.
 * Concurrent health checks share one probe; a result answers checks for `cacheMs`.
 */
export class Prober {
  private last: { result: ProbeResult; at: number } | undefined;
  private inFlight: Promise<ProbeResult> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: ProberOptions) {
    this.now = options.now ?? Date.now;
  }

  check(): Promise<ProbeResult> {
    if (this.last && this.now() - this.last.at < this.options.cacheMs)
      return Promise.resolve(this.last.result);
    this.inFlight ??= this.probeBoth().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async probeBoth(): Promise<ProbeResult> {
    const [forward, tunnel] = await Promise.all([this.probe('forward'), this.probe('tunnel')]);
    const result = {
      ok: forward.ok && tunnel.ok,
      checkedAt: new Date().toISOString(),
      modes: { forward, tunnel },
    };
    this.last = { result, at: this.now() };
    this.options.onResult?.(result);
    return result;
  }

  /**
   * One proxied fetch on a fresh connection, so a proxy that stopped accepting is caught too.
   * The deadline is ours, not only undici's: a hung proxy must not hold a health check open.
   */
  private async probe(mode: ProbeMode): Promise<ModeResult> {
    const started = performance.now();
    const { timeoutMs } = this.options;
    const agent = new ProxyAgent({
      uri: this.options.proxyUrl,
      proxyTunnel: mode === 'tunnel',
      connect: { timeout: timeoutMs },
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer through the proxy within ${timeoutMs} ms`), timeoutMs);
    });
    try {
      const failure = await Promise.race([this.fetchNonce(agent, timeoutMs), deadline]);
      const ms = Math.round(performance.now() - started);
      return failure === null ? { ok: true, ms } : { ok: false, ms, reason: failure };
    } finally {
      clearTimeout(timer);
      void agent.destroy().catch(() => undefined);
    }
  }

  /** Fetches `/target` with a fresh nonce; null if it came back, else why not. */
  private async fetchNonce(agent: ProxyAgent, timeoutMs: number): Promise<string | null> {
    const nonce = randomBytes(16).toString('hex');
    try {
      const response = await request(`${this.options.targetOrigin}/target?nonce=${nonce}`, {
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const body = (await response.body.text()).trim();
      if (response.statusCode !== 200) {
        const reason = response.headers['x-egress-proxy-reason'] ?? 'no reason given';
        return `proxy answered ${response.statusCode} (${String(reason)})`;
      }
      return body === nonce ? null : 'answer did not echo the nonce: the proxy is not forwarding';
    } catch (error) {
      return describeFailure(error, timeoutMs);
    }
  }
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const { name, code, message = '' } = error as { name?: string; code?: string; message?: string };
  // undici reports a refused CONNECT as an abort carrying the proxy's status.
  const refused = /Proxy response \((\d+)\)/.exec(message);
  if (refused) return `proxy answered ${refused[1]} to CONNECT`;
  if (name === 'TimeoutError' || /TIMEOUT/.test(code ?? '')) {
    return `no answer through the proxy within ${timeoutMs} ms`;
  }
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return [code, cause, message].filter(Boolean).join(': ') || 'probe failed';
}
