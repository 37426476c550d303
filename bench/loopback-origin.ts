import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The origin's listening ports, all on 127.0.0.1. */
export interface OriginPorts {
  /** Streams bytes to whoever connects (tunnel throughput). */
  readonly source: number;
  /** Answers the first chunk with SHORT_ANSWER, then closes (new tunnels per second). */
  readonly answer: number;
  /** Echoes and stays open (idle tunnels). */
  readonly hold: number;
  /** HTTP/1.1 keep-alive, a fixed 128-byte 200 (absolute-form requests). */
  readonly http: number;
}

/** An HTTP response with a 1 KiB body: what a new tunnel's one request gets back. */
export const SHORT_ANSWER = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n' +
    'x'.repeat(1024),
);

export interface Origin {
  readonly ports: OriginPorts;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts the origin in its own Node process (same TypeScript loader as this one). */
export async function startOrigin(): Promise<Origin> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./origin-process.ts', import.meta.url)), [], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<OriginPorts>((resolve, reject) => {
    child.once('message', (message) => resolve(message as OriginPorts));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the origin exited early (${code})`)));
  });
  return {
    ports,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
