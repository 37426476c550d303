/**
 * Processes the drill starts inside its namespaces. Every one is tracked by PID so cleanup can
 * end exactly what this run started, even after a failure or a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { sleep } from './exec.js';

const KEEP_LINES = 30;

export class NsProcess {
  readonly pid: number;
  /** The last lines of stdout and stderr, for error messages. */
  readonly tail: string[] = [];
  private exitCode: number | null | undefined;
  private readonly listeners = new Set<(line: string) => void>();
  readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`${label}: could not start`);
    this.pid = child.pid;
    live.add(this);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > KEEP_LINES) this.tail.shift();
        for (const listener of this.listeners) listener(line);
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        live.delete(this);
        resolve();
      });
      child.once('error', () => {
        this.exitCode = -1;
        live.delete(this);
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  onLine(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when a stdout/stderr line contains `text`; rejects on exit or after `timeoutMs`. */
  waitForLine(text: string, timeoutMs: number): Promise<void> {
    if (this.tail.some((line) => line.includes(text))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error): void => {
        clearTimeout(timer);
        off();
        if (error) reject(error);
        else resolve();
      };
      const off = this.onLine((line) => {
        if (line.includes(text)) done();
      });
      const timer = setTimeout(() => done(this.failure(`no "${text}" within ${timeoutMs} ms`)), timeoutMs);
      void this.exited.then(() => done(this.failure(`exited (${String(this.exitCode)}) before "${text}"`)));
    });
  }

  failure(problem: string): Error {
    return new Error(`${this.label} (pid ${this.pid}): ${problem}\n  ${this.tail.slice(-8).join('\n  ')}`);
  }

  write(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Closes the process's stdin (the drill's helpers stop on it). */
  endInput(): void {
    this.child.stdin?.end();
  }

  /** Sends `signal` to this process and every descendant (a cluster's workers). */
  signalTree(signal: NodeJS.Signals): void {
    for (const pid of [this.pid, ...descendants(this.pid)]) signalPid(pid, signal);
  }

  /** SIGKILLs the tree and waits (bounded) for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.signalTree('SIGCONT');
    this.signalTree('SIGKILL');
    await Promise.race([this.exited, sleep(3_000)]);
  }
}

/** Every process this run started and that has not exited yet. */
const live = new Set<NsProcess>();

/** Starts `command` inside network namespace `ns` (`ip netns exec` execs in place: same PID). */
export function spawnInNamespace(
  label: string,
  ns: string,
  command: string,
  args: readonly string[],
  options: { stdin?: boolean; env?: Readonly<Record<string, string>> } = {},
): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  return new NsProcess(label, child);
}

/** SIGKILLs every process started by this run that is still alive (last-resort cleanup). */
export async function killAllStarted(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.kill()));
}

/** Synchronous variant for an exit handler: no waiting. */
export function killAllStartedSync(): void {
  for (const proc of live) {
    proc.signalTree('SIGCONT');
    proc.signalTree('SIGKILL');
  }
}

/** Child PIDs of every thread of `pid`, recursively (bounded depth). */
export function descendants(pid: number, depth = 0): number[] {
  if (depth > 4) return [];
  const found: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of text.split(/\s+/).filter(Boolean).map(Number)) {
      found.push(child, ...descendants(child, depth + 1));
    }
  }
  return found;
}

export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Alive and not a zombie (an exited process nobody reaped yet). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
