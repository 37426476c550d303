/** What the drill's helper processes print and exchange (no side effects: imported by both sides). */

export const ORIGIN_READY = 'origin listening';
export const ORIGIN_PORTS = [80, 443, 8080] as const;
/** What the origin answers to `/echo?n=NONCE`. */
export const originAnswer = (nonce: string): string => `origin:${nonce}`;

export const FAKE_WAITING = 'fake proxy waiting for the port';
export const FAKE_READY = 'fake proxy listening';

export const TRAFFIC_READY = 'traffic started';

/** The AppConfig stand-in in the internet namespace (test/support/appconfig.ts). */
export const APPCONFIG_READY = 'appconfig listening';
export const APPCONFIG_PORT = 4000;
export const DEPLOYED = 'deployed';
/** A deployment, one JSON line on the stand-in's stdin. */
export interface DeployCommand {
  readonly label: string;
  readonly content: string;
}

/** The origin keeps connections to this path open (every other answer closes them). */
export const HELD_PATH = '/held';
export const HELD_READY = 'held connections open';

export interface HeldSpec {
  readonly host: string;
  readonly port: number;
  readonly originHost: string;
  /** Tunnels, and as many kept-alive absolute-form connections. */
  readonly perKind: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly maxDurationMs: number;
}

/** The held connections' outcome, one JSON line when stdin ends. */
export interface HeldSummary {
  readonly connections: number;
  readonly exchanges: number;
  /** Connections that failed (dropped, timed out, wrong answer), with why. */
  readonly failures: readonly { readonly kind: TrafficMode; readonly error: string }[];
}

export interface TrafficTarget {
  /** Which load balancer: a label carried into every result. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export interface TrafficSpec {
  readonly targets: readonly TrafficTarget[];
  /** Destination host name the proxies resolve (the origin). */
  readonly originHost: string;
  /** Port of the absolute-form requests (CONNECT always goes to 443). */
  readonly forwardPort: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  readonly maxDurationMs: number;
}

export type TrafficMode = 'forward' | 'tunnel';

/** One request's outcome, one JSON line each on the traffic client's stdout. */
export interface TrafficResult {
  readonly target: string;
  readonly mode: TrafficMode;
  /** Epoch ms when the request started. */
  readonly start: number;
  readonly ms: number;
  readonly ok: boolean;
  /** For a failure: status, wrong body, reset, timeout... */
  readonly error?: string;
}

/** The origin's echo port for long-lived tunnels: it greets with the peer's address, then echoes. */
export const ECHO_PORT = 7000;
export const echoGreeting = (address: string): string => `from ${address}\n`;

export const STAND_IN_READY = 'aws stand-in listening';

/** One instance as the metadata service and the two APIs see it. */
export interface StandInInstance {
  readonly instanceId: string;
  /** Its address: metadata requests are told apart by it. */
  readonly ip: string;
  readonly groupName: string;
  /** `autoscaling/target-lifecycle-state`: InService, Terminated. */
  readonly targetLifecycleState: string;
  /** The lifecycle hook waiting for it (Pending:Wait, Terminating:Wait), if any. */
  readonly activeHook?: string;
  /** Its target health, as DescribeTargetHealth reports it. */
  readonly targetHealth: { readonly state: string; readonly reason?: string };
}

/** What the drill tells the stand-in (stdin, one JSON line each). */
export type StandInCommand =
  | { readonly op: 'set'; readonly instance: StandInInstance }
  | { readonly op: 'forget'; readonly instanceId: string };

/** A lifecycle call the stand-in answered (stdout, one JSON line each). */
export interface StandInEvent {
  readonly action: string;
  readonly instanceId: string;
  readonly hook?: string;
  readonly result?: string;
  /** False: refused (no active lifecycle action, unknown instance). */
  readonly accepted: boolean;
}

export const TUNNELS_READY = 'tunnel client ready';

/** What the drill asks of the tunnel client (stdin, one JSON line each). */
export type TunnelCommand =
  | {
      readonly op: 'open';
      readonly id: string;
      readonly host: string;
      readonly port: number;
      /** `host:port` of the CONNECT. */
      readonly authority: string;
      /** A byte every tickMs; 0: idle after the greeting. */
      readonly tickMs: number;
    }
  | { readonly op: 'close'; readonly id: string };

/** What the tunnel client reports (stdout, one JSON line each). */
export type TunnelEvent =
  | { readonly id: string; readonly event: 'open'; readonly at: number; readonly instanceIp: string }
  | { readonly id: string; readonly event: 'failed'; readonly at: number; readonly error: string }
  | {
      readonly id: string;
      readonly event: 'ended';
      readonly at: number;
      /** `client`: the client closed it; `fin`: the proxy side ended it; else the error (reset...). */
      readonly how: string;
      readonly sent: number;
      readonly echoed: number;
    };
