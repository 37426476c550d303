import { request } from 'undici';
import type { Clock } from './clock.js';

const OPEN_TUNNELS = /^egress_proxy_open_tunnels (\d+)/m;

/** The local proxy as the lifecycle sees it, through its loopback metrics endpoint. */
export interface ProxyControl {
  /** Open CONNECT tunnels; 0 when the proxy is not running. */
  openTunnels(): Promise<number>;
  /** Asks the proxy to drain and exit, and waits (up to `timeoutMs`) until it has. */
  stop(timeoutMs: number): Promise<void>;
}

export class MetricsProxyControl implements ProxyControl {
  constructor(
    private readonly metricsOrigin: string,
    private readonly clock: Clock,
  ) {}

  async openTunnels(): Promise<number> {
    try {
      const response = await request(`${this.metricsOrigin}/metrics`, { signal: AbortSignal.timeout(2_000) });
      const text = await response.body.text();
      return Number(OPEN_TUNNELS.exec(text)?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  async stop(timeoutMs: number): Promise<void> {
    try {
      const response = await request(`${this.metricsOrigin}/drain`, {
        method: 'POST',
        signal: AbortSignal.timeout(2_000),
      });
      await response.body.dump();
    } catch {
      return;
    }
    const deadline = this.clock.now() + timeoutMs;
    while (this.clock.now() < deadline && (await this.answers())) await this.clock.sleep(200);
  }

  private async answers(): Promise<boolean> {
    try {
      const response = await request(`${this.metricsOrigin}/metrics`, { signal: AbortSignal.timeout(1_000) });
      await response.body.dump();
      return true;
    } catch {
      return false;
    }
  }
}
