/**
 * Long-lived CONNECT tunnels through the load balancer to the origin's echo port, opened and closed
 * on the drill's command: a "busy" one moves a byte every tickMs, an "idle" one nothing after the
 * greeting. Reports which instance each landed on (the origin's greeting names the address the
 * connection came from), and how each ended: closed by the client, or ended by the other side
 * (a FIN, or a reset), with the bytes sent and echoed.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { TUNNELS_READY, type TunnelCommand, type TunnelEvent } from './protocol.js';

/** A tunnel must be established (CONNECT answered, greeting read) within this. */
const OPEN_TIMEOUT_MS = 5_000;
const MAX_TUNNELS = 32;

interface Tunnel {
  readonly socket: Socket;
  ticker?: NodeJS.Timeout;
  sent: number;
  echoed: number;
  closedByClient: boolean;
  ended: boolean;
}

const tunnels = new Map<string, Tunnel>();
const emit = (event: TunnelEvent): void => void process.stdout.write(`${JSON.stringify(event)}\n`);

function open(command: Extract<TunnelCommand, { op: 'open' }>): void {
  const { id } = command;
  if (tunnels.size >= MAX_TUNNELS) {
    emit({ id, event: 'failed', at: Date.now(), error: 'too many tunnels' });
    return;
  }
  const socket = connect({ host: command.host, port: command.port, allowHalfOpen: true });
  const tunnel: Tunnel = { socket, sent: 0, echoed: 0, closedByClient: false, ended: false };
  tunnels.set(id, tunnel);
  let phase: 'connect' | 'greeting' | 'open' = 'connect';
  let buffer = '';
  const timer = setTimeout(() => socket.destroy(new Error('timeout opening the tunnel')), OPEN_TIMEOUT_MS);
  const finish = (how: string): void => {
    if (tunnel.ended) return;
    tunnel.ended = true;
    clearTimeout(timer);
    clearInterval(tunnel.ticker);
    tunnels.delete(id);
    if (phase !== 'open') emit({ id, event: 'failed', at: Date.now(), error: how });
    else emit({ id, event: 'ended', at: Date.now(), how, sent: tunnel.sent, echoed: tunnel.echoed });
    socket.destroy();
  };
  socket.setEncoding('latin1');
  socket.on('connect', () =>
    socket.write(`CONNECT ${command.authority} HTTP/1.1\r\nhost: ${command.authority}\r\n\r\n`),
  );
  socket.on('data', (chunk: string) => {
    if (phase === 'open') {
      tunnel.echoed += chunk.length;
      return;
    }
    buffer += chunk;
    if (phase === 'connect') {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buffer)?.[1];
      if (status !== '200') return finish(`CONNECT answered ${status ?? 'garbage'}`);
      buffer = buffer.slice(end + 4);
      phase = 'greeting';
    }
    const newline = buffer.indexOf('\n');
    if (newline < 0) return;
    const instanceIp = /^from (?:::ffff:)?([\d.]+)/.exec(buffer.slice(0, newline))?.[1];
    if (!instanceIp) return finish('no greeting from the origin');
    tunnel.echoed += buffer.length - newline - 1;
    phase = 'open';
    clearTimeout(timer);
    emit({ id, event: 'open', at: Date.now(), instanceIp });
    if (command.tickMs > 0) {
      tunnel.ticker = setInterval(() => {
        if (!socket.writable) return;
        socket.write('x');
        tunnel.sent++;
      }, command.tickMs);
    }
  });
  // The other side's FIN: answer it as a client does, and report it.
  socket.on('end', () => {
    socket.end();
    finish(tunnel.closedByClient ? 'client' : 'fin');
  });
  socket.on('close', () => finish(tunnel.closedByClient ? 'client' : 'closed'));
  socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
}

/** Ends a tunnel from the client side, once every byte sent has come back (bounded). */
function close(id: string): void {
  const tunnel = tunnels.get(id);
  if (!tunnel) return;
  clearInterval(tunnel.ticker);
  tunnel.closedByClient = true;
  const deadline = Date.now() + 2_000;
  const endWhenEchoed = (): void => {
    if (tunnel.echoed >= tunnel.sent || Date.now() > deadline) tunnel.socket.end();
    else setTimeout(endWhenEchoed, 20);
  };
  endWhenEchoed();
}

export function main(): Promise<void> {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return;
    const command = JSON.parse(line) as TunnelCommand;
    if (command.op === 'open') open(command);
    else close(command.id);
  });
  process.stdin.on('end', () => {
    for (const tunnel of tunnels.values()) tunnel.socket.destroy();
    process.exit(0);
  });
  process.stdout.write(`${TUNNELS_READY}\n`);
  return Promise.resolve();
}
