/**
 * Long-lived connections through the load balancer: CONNECT tunnels and kept-alive absolute-form
 * connections, each asking the origin again every `intervalMs` on the same connection. Any
 * failure (a drop, a timeout, a wrong answer) ends that connection and is counted. When stdin
 * ends, prints the summary as one JSON line and exits.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  HELD_PATH,
  HELD_READY,
  originAnswer,
  type HeldSpec,
  type HeldSummary,
  type TrafficMode,
} from './protocol.js';

const HEAD_END = '\r\n\r\n';

/** Reads one response with a Content-Length body; resolves with its head and body. */
function response(socket: Socket, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const done = (error?: Error, value?: { status: number; body: string }): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(value!);
    };
    const onData = (chunk: string): void => {
      buffer += chunk;
      const end = buffer.indexOf(HEAD_END);
      if (end < 0) return;
      const head = buffer.slice(0, end);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      const body = buffer.slice(end + HEAD_END.length);
      if (Buffer.byteLength(body) >= length) done(undefined, { status, body: body.slice(0, length) });
    };
    const onClose = (): void => done(new Error('connection closed'));
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

async function hold(
  kind: TrafficMode,
  spec: HeldSpec,
  stopped: () => boolean,
  onExchange: () => void,
): Promise<string | null> {
  const socket = connect(spec.port, spec.host);
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    if (kind === 'tunnel') {
      socket.write(`CONNECT ${spec.originHost}:443 HTTP/1.1\r\nhost: ${spec.originHost}:443\r\n\r\n`);
      const answer = await response(socket, spec.timeoutMs);
      if (answer.status !== 200) return `CONNECT answered ${answer.status}`;
    }
    while (!stopped()) {
      const nonce = randomBytes(8).toString('hex');
      const target = kind === 'tunnel' ? HELD_PATH : `http://${spec.originHost}${HELD_PATH}`;
      socket.write(`GET ${target}?n=${nonce} HTTP/1.1\r\nhost: ${spec.originHost}\r\n\r\n`);
      const answer = await response(socket, spec.timeoutMs);
      if (answer.status !== 200) return `answered ${answer.status}`;
      if (!answer.body.includes(originAnswer(nonce))) return 'wrong answer';
      onExchange();
      await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
    }
    return null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  } finally {
    socket.destroy();
  }
}

export async function main(args: readonly string[]): Promise<void> {
  const spec = JSON.parse(args[0] ?? '{}') as HeldSpec;
  let stop = false;
  let exchanges = 0;
  const stopped = (): boolean => stop;
  const finish = (): void => void (stop = true);
  process.stdin.on('end', finish);
  process.stdin.resume();
  setTimeout(finish, spec.maxDurationMs).unref();
  const kinds: TrafficMode[] = [
    ...Array.from({ length: spec.perKind }, () => 'tunnel' as const),
    ...Array.from({ length: spec.perKind }, () => 'forward' as const),
  ];
  const held = kinds.map(async (kind) => ({
    kind,
    error: await hold(kind, spec, stopped, () => exchanges++),
  }));
  process.stdout.write(`${HELD_READY}\n`);
  const outcomes = await Promise.all(held);
  const summary: HeldSummary = {
    connections: kinds.length,
    exchanges,
    failures: outcomes.filter((o): o is { kind: TrafficMode; error: string } => o.error !== null),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
