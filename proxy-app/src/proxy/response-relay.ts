import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { endToEndResponseHeaders } from './hop-by-hop.js';

/**
 * Writes an upstream response into the client's response as undici delivers it, pausing the
 * upstream while the client is slow, and aborting it if the client leaves. Cheaper than
 * `request()`, which would wrap the same events in a body stream to pipe from.
 */
export class ResponseRelay implements Dispatcher.DispatchHandler {
  status = 0;
  bytesDown = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly closeAfter: () => boolean,
    private readonly settle: (error?: Error) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.res.once('close', () => {
      if (!this.res.writableFinished) controller.abort(new Error('the client closed the connection'));
    });
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // Informational answers (100, 103) are not relayed; the final one follows.
    if (statusCode < 200) return;
    this.status = statusCode;
    if (this.closeAfter()) this.res.shouldKeepAlive = false;
    this.res.writeHead(statusCode, endToEndResponseHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytesDown += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.settle(error);
  }
}
