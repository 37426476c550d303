import pino, { type Logger } from 'pino';
import { DEFAULTS, type LogLevel } from '../config/schema.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Bytes of lines waiting for stdout; a line that does not fit is dropped. */
  readonly maxBufferBytes?: number;
  /** Called for each dropped line, to count them. */
  readonly onDrop?: () => void;
}

/**
 * One JSON line per event on stdout, for the journal. The destination is asynchronous so the
 * access log never blocks the event loop, and bounded (sonic-boom's `maxLength`): when stdout
 * stalls, memory stops growing at `maxBufferBytes` and further lines are dropped and counted
 * rather than held. `flush()` on it before exiting keeps the last lines.
 */
export function createLogger(
  processName: 'proxy' | 'sidecar',
  level: LogLevel,
  { maxBufferBytes = DEFAULTS.log.maxBufferBytes, onDrop }: LoggerOptions = {},
): Logger {
  const destination = pino.destination({ dest: 1, sync: false, maxLength: maxBufferBytes });
  if (onDrop) destination.on('drop', onDrop);
  return pino(
    {
      level,
      base: { proc: processName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
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
