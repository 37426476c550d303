import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/schema.js';

export type { Logger } from 'pino';

/**
 * One JSON line per event on stdout, for the journal. The destination is asynchronous so the
 * access log never blocks the event loop; `flush()` on it before exiting keeps the last lines.
 */
export function createLogger(processName: 'proxy' | 'sidecar', level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { proc: processName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: false }),
  );
}

/** Writes what is buffered, synchronously; call before `process.exit`. */
export function flushLogger(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void }>)[pino.symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // Nothing was buffered yet (sonic-boom is not ready) or stdout is gone: nothing to save.
  }
}
