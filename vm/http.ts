import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** GET on a fresh connection; status 0 when nothing answered within the timeout. */
export function get(url: string, timeoutMs = 5_000): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, body: error.message }));
    req.end();
  });
}

/** Polls until `accept(answer)` or the deadline; resolves with the last answer. */
export async function waitFor(
  url: string,
  accept: (answer: HttpAnswer) => boolean,
  deadlineMs: number,
  intervalMs = 250,
): Promise<HttpAnswer & { readonly ms: number }> {
  const started = Date.now();
  let answer: HttpAnswer = { status: 0, body: '' };
  while (Date.now() - started < deadlineMs) {
    answer = await get(url, Math.min(5_000, deadlineMs));
    if (accept(answer)) break;
    await sleep(intervalMs);
  }
  return { ...answer, ms: Date.now() - started };
}

export interface Tunnel {
  readonly status: number;
  /** The proxy's answer head (status line and headers). */
  readonly head: string;
  /** The tunnel, when the proxy answered 200. */
  readonly socket: Socket;
}

/** Sends CONNECT target through the proxy and reads the answer head. */
export function connectThrough(proxyPort: number, target: string, timeoutMs = 10_000): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxyPort, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`CONNECT ${target}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.off('data', onData);
      const head = data.subarray(0, end).toString('latin1');
      const rest = data.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, socket });
    };
    socket.on('data', onData);
  });
}

/** One HTTP/1.1 keep-alive GET over an open socket (a tunnel); resolves with the response text. */
export function getOver(socket: Socket, host: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => finish(new Error(`GET over tunnel: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: *(\d+)/i.exec(text)?.[1] ?? NaN);
      if (end !== -1 && text.length >= end + 4 + length) finish();
    };
    const onClose = (): void => finish(new Error(`tunnel closed; got ${JSON.stringify(text)}`));
    function finish(error?: Error): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(text);
    }
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  });
}
