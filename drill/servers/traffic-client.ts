/**
 * The workload: a steady stream of absolute-form requests and CONNECT tunnels through each load
 * balancer, one fresh connection per request (so every request is a new flow the balancer places),
 * each checked for the origin's echo of its nonce. Prints one JSON line per result.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import {
  originAnswer,
  TRAFFIC_READY,
  type TrafficMode,
  type TrafficResult,
  type TrafficSpec,
  type TrafficTarget,
} from './protocol.js';

const HEAD_END = '\r\n\r\n';

/** Sends one request through `target`; resolves with null on a correct answer, else the reason. */
function exchange(target: TrafficTarget, mode: TrafficMode, spec: TrafficSpec): Promise<string | null> {
  const nonce = randomBytes(8).toString('hex');
  const host = spec.originHost;
  const get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`;
  return new Promise((resolve) => {
    let done = false;
    let buffer = '';
    let phase: 'connect' | 'response' = mode === 'tunnel' ? 'connect' : 'response';
    const socket = connect(target.port, target.host);
    const finish = (error: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(error);
    };
    const timer = setTimeout(
      () =>
        finish(
          phase === 'connect' ? 'timeout waiting for the CONNECT answer' : 'timeout waiting for the response',
        ),
      spec.timeoutMs,
    );
    const evaluate = (ended: boolean): void => {
      const end = buffer.indexOf(HEAD_END);
      if (end < 0) {
        if (ended) finish(buffer ? 'truncated answer' : 'closed without an answer');
        return;
      }
      const head = buffer.slice(0, end);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      if (phase === 'connect') {
        if (status !== 200) return finish(`CONNECT answered ${status || 'garbage'}`);
        buffer = buffer.slice(end + HEAD_END.length);
        phase = 'response';
        socket.write(get(`/echo?n=${nonce}`));
        return;
      }
      if (status !== 200) return finish(`answered ${status || 'garbage'}`);
      const body = buffer.slice(end + HEAD_END.length);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      const complete = ended || (Number.isFinite(length) && Buffer.byteLength(body) >= length);
      if (!complete) return;
      finish(body.includes(originAnswer(nonce)) ? null : 'wrong answer (not from the origin)');
    };
    socket.setEncoding('latin1');
    socket.on('connect', () =>
      socket.write(
        mode === 'tunnel'
          ? `CONNECT ${host}:443 HTTP/1.1\r\nhost: ${host}:443\r\n\r\n`
          : get(`http://${host}:${spec.forwardPort}/echo?n=${nonce}`),
      ),
    );
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      evaluate(false);
    });
    socket.on('end', () => evaluate(true));
    socket.on('close', () => evaluate(true));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  });
}

export function main(args: readonly string[]): Promise<void> {
  const spec = JSON.parse(args[0] ?? '{}') as TrafficSpec;
  const started = Date.now();
  let inFlight = 0;
  let round = 0;
  const emit = (result: TrafficResult): void => void process.stdout.write(`${JSON.stringify(result)}\n`);
  const stop = (): void => {
    clearInterval(timer);
    // Let in-flight requests report (each is bounded by timeoutMs), then leave.
    setTimeout(() => process.exit(0), Math.min(spec.timeoutMs, 1_000)).unref();
  };
  const timer = setInterval(() => {
    if (Date.now() - started > spec.maxDurationMs) return stop();
    const mode: TrafficMode = round++ % 2 === 0 ? 'forward' : 'tunnel';
    for (const target of spec.targets) {
      const start = Date.now();
      if (inFlight >= spec.maxInFlight) {
        emit({
          target: target.name,
          mode,
          start,
          ms: 0,
          ok: false,
          error: 'client saturated (too many in flight)',
        });
        continue;
      }
      inFlight++;
      void exchange(target, mode, spec).then((error) => {
        inFlight--;
        const result = { target: target.name, mode, start, ms: Date.now() - start, ok: error === null };
        emit(error === null ? result : { ...result, error });
      });
    }
  }, spec.intervalMs);
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.stdout.write(`${TRAFFIC_READY}\n`);
  return Promise.resolve();
}
