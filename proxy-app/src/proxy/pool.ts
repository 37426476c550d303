import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Destination } from '../policy/policy.js';

/** Pooled upstream connections idle longer than this are closed (sooner if the origin says so). */
export const POOL_IDLE_MS = 4_000;

/** Node's Agent stops this long before an origin's `Keep-Alive: timeout`, to avoid reusing a closing connection. */
const HINT_MARGIN_MS = 1_000;

/** What the pool needs to know about a request: which connections may carry it, and how to open one. */
export interface PoolRequest {
  /** The normalized `host[:port]`: requests with the same one share connections. */
  readonly key: string;
  readonly destination: Destination;
  readonly client: string;
  /** The request's idle timeout, set on the connection while it carries the request. */
  readonly idleMs: number;
}

/** The ClientRequest option that carries the PoolRequest (Node passes its options on to `addRequest`). */
export const POOL_REQUEST = Symbol('egress-proxy.poolRequest');

export type OpenUpstream = (destination: Destination, client: string) => Promise<Socket>;

/** The fields of a ClientRequest the pool reads that @types/node does not declare. */
type LentRequest = ClientRequest & { onSocket(socket: Socket | undefined, error?: Error): void };
type LentSocket = Socket & { _httpMessage?: (ClientRequest & { res?: IncomingMessage | null }) | null };

/**
 * Keep-alive upstream connections per destination, handed to Node's HTTP client as its `agent`
 * (ClientRequest takes any object with `addRequest`). It does what the forwarder needs of
 * `http.Agent` and no more: a free connection is reused newest first, a new one is opened by the
 * proxy's own resolve-check-connect step, an idle one closes after POOL_IDLE_MS or the origin's
 * `Keep-Alive: timeout` hint. Node's Agent does more bookkeeping per request (option copies,
 * name keys, socket lists, async-id resets) than the rest of the client together.
 */
export class UpstreamPool {
  /** Read by ClientRequest: keep-alive requests, and the request's own timeout only. */
  readonly keepAlive = true;
  readonly maxSockets = Infinity;
  readonly protocol = 'http:';
  readonly defaultPort = 80;
  readonly options = {};

  private readonly free = new Map<string, Socket[]>();
  private readonly sockets = new Set<Socket>();
  /** Retired after a policy reload: a connection is closed when its request is done. */
  private retired = false;

  constructor(private readonly open: OpenUpstream) {}

  /** For ClientRequest's `agent` option: @types/node wants an Agent, Node wants `addRequest`. */
  asAgent(): Agent {
    return this as unknown as Agent;
  }

  /** Called by ClientRequest's constructor, with the options it was given. */
  addRequest(req: ClientRequest, options: { readonly [POOL_REQUEST]: PoolRequest }): void {
    const { key, destination, client, idleMs } = options[POOL_REQUEST];
    const free = this.free.get(key);
    let socket: Socket | undefined;
    while (free !== undefined && socket === undefined && free.length > 0) {
      const candidate = free.pop()!;
      if (isOpen(candidate)) socket = candidate;
      else candidate.destroy();
    }
    if (socket !== undefined) {
      socket.ref();
      req.reusedSocket = true;
      lend(req, socket, idleMs);
      return;
    }
    this.open(destination, client).then(
      (opened) => {
        this.adopt(opened, key);
        lend(req, opened, idleMs);
      },
      (error: Error) => (req as LentRequest).onSocket(undefined, error),
    );
  }

  /** Closes the free connections now and each busy one when its request is done. */
  retire(): void {
    this.retired = true;
    for (const free of this.free.values()) for (const socket of free) socket.destroy();
    this.free.clear();
  }

  destroy(): void {
    this.retire();
    for (const socket of this.sockets) socket.destroy();
  }

  private adopt(socket: Socket, key: string): void {
    this.sockets.add(socket);
    socket.on('free', () => this.release(socket, key));
    const destroyIfFree = (): void => {
      if (this.free.get(key)?.includes(socket)) socket.destroy();
    };
    socket.on('timeout', destroyIfFree);
    // Upstream sockets allow half-open (tunnels need it): an origin's FIN leaves a free one writable.
    socket.on('end', destroyIfFree);
    // While free, nothing else listens; an error then only means the connection is gone.
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.sockets.delete(socket);
      const free = this.free.get(key);
      const index = free?.indexOf(socket) ?? -1;
      if (index !== -1) free!.splice(index, 1);
      if (free?.length === 0) this.free.delete(key);
    });
  }

  /** Node's client emits 'free' once a response ended on a connection that may carry another request. */
  private release(socket: Socket, key: string): void {
    const lent = socket as LentSocket;
    const req = lent._httpMessage;
    const poolIdleMs = req?.shouldKeepAlive ? idleFor(req.res) : 0;
    if (this.retired || !isOpen(socket) || poolIdleMs <= 0) {
      socket.destroy();
      return;
    }
    lent._httpMessage = null;
    socket.setTimeout(poolIdleMs);
    socket.unref();
    const free = this.free.get(key);
    if (free === undefined) this.free.set(key, [socket]);
    else free.push(socket);
  }
}

/** Open both ways: an origin's FIN may arrive before the connection is free, when 'end' cannot close it. */
function isOpen(socket: Socket): boolean {
  return socket.writable && !socket.readableEnded;
}

function lend(req: ClientRequest, socket: Socket, idleMs: number): void {
  (req as LentRequest).onSocket(socket);
  if (socket.timeout !== idleMs) socket.setTimeout(idleMs);
}

/** How long a connection may wait in the pool after `response`: 0 if the origin's hint is too short. */
function idleFor(response: IncomingMessage | null | undefined): number {
  const raw = response?.rawHeaders ?? [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'keep-alive') continue;
    const hint = /^timeout=(\d+)/.exec(raw[i + 1]!)?.[1];
    if (hint !== undefined) return Math.min(POOL_IDLE_MS, Number(hint) * 1_000 - HINT_MARGIN_MS);
  }
  return POOL_IDLE_MS;
}
