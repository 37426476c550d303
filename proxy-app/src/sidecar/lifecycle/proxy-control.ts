import { request } from 'undici';

const OPEN_CONNECTIONS = /^egress_proxy_open_connections (\d+)/m;
const CALL_TIMEOUT_MS = 2_000;

/** The local proxy as the lifecycle sees it, through its loopback control endpoint. */
export interface ProxyControl {
  /** Starts the proxy's drain (see proxy/drain.ts); false when the proxy did not take it. */
  drain(): Promise<boolean>;
  /** Client connections the proxy holds, tunnels included; 0 when it does not answer. */
  openConnections(): Promise<number>;
}

export class HttpProxyControl implements ProxyControl {
  constructor(private readonly controlOrigin: string) {}

  async drain(): Promise<boolean> {
    try {
      const response = await request(`${this.controlOrigin}/drain`, {
        method: 'POST',
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      await response.body.dump();
      return response.statusCode === 202;
    } catch {
      return false;
    }
  }

  async openConnections(): Promise<number> {
    try {
      const response = await request(`${this.controlOrigin}/metrics`, {
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      const text = await response.body.text();
      return Number(OPEN_CONNECTIONS.exec(text)?.[1] ?? 0);
    } catch {
      // A proxy that is gone or hung holds nothing the drain could still save.
      return 0;
    }
  }
}
