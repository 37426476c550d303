/**
 * `npm run drill [-- --short] [--scenarios a,b] [--forward-port N]`: the fleet drill. Prints a table per
 * scenario; exits 1 when a scenario did not behave as expected, 2 when it cannot run here.
 */
import { pathToFileURL } from 'node:url';
import { spawnDetachedCleanup } from './cleanup.js';
import { runDrill, type DrillReport } from './drill.js';
import { releaseLock, removeLeftovers } from './network.js';
import { DRAIN_COLUMNS, drainRow } from './drain.js';
import {
  drillOptions,
  METADATA_MODES,
  SCENARIOS,
  type DrillOptions,
  type MetadataMode,
  type ScenarioName,
} from './options.js';
import { INSTALL_HINT, missingBuild, missingPrerequisites } from './prereqs.js';
import { killAllStartedSync } from './processes.js';
import { markdownTable, rolloutSummary, table } from './report.js';

const USAGE =
  '--short | --full, --scenarios a,b, --metadata at-decision|at-wait|mixed, --scale F, --forward-port 80|443|8080, --dump FILE';

export function parseArgs(argv: readonly string[], log?: DrillOptions['log']): DrillOptions {
  let short = false;
  let scenarios: readonly ScenarioName[] | undefined;
  let forwardPort: number | undefined;
  let dumpFile: string | undefined;
  let metadata: MetadataMode | undefined;
  let scale: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') short = true;
    else if (arg === '--full') short = false;
    else if (arg === '--scenarios' || arg?.startsWith('--scenarios=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const names = (value ?? '').split(',').filter(Boolean);
      const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
      if (unknown.length || names.length === 0) {
        throw new Error(
          `--scenarios: unknown ${unknown.join(', ') || '(none given)'}; known: ${SCENARIOS.join(', ')}`,
        );
      }
      scenarios = names as ScenarioName[];
    } else if (arg === '--dump') {
      dumpFile = argv[++i];
      if (!dumpFile) throw new Error('--dump: a file name');
    } else if (arg === '--metadata') {
      const value = argv[++i];
      if (!(METADATA_MODES as readonly string[]).includes(value ?? '')) {
        throw new Error(`--metadata: one of ${METADATA_MODES.join(', ')}`);
      }
      metadata = value as MetadataMode;
    } else if (arg === '--scale') {
      scale = Number(argv[++i]);
      if (!(scale > 0 && scale <= 1)) throw new Error('--scale: a factor in (0, 1], e.g. 0.1');
    } else if (arg === '--forward-port') {
      forwardPort = Number(argv[++i]);
      if (![80, 443, 8080].includes(forwardPort)) throw new Error('--forward-port: 80, 443 or 8080');
    } else throw new Error(`unknown argument ${String(arg)} (${USAGE})`);
  }
  return drillOptions(short ? 'short' : 'full', {
    ...(scenarios ? { scenarios } : {}),
    ...(forwardPort ? { forwardPort } : {}),
    ...(dumpFile ? { dumpFile } : {}),
    ...(metadata ? { metadata } : {}),
    ...(scale ? { scale } : {}),
    ...(log ? { log } : {}),
  });
}

export function formatReport(report: DrillReport): string {
  const lines = [
    `Fleet drill (${report.mode}, the stack's timings x ${report.scale}), ${report.haproxyVersion}, ${(report.durationMs / 1000).toFixed(0)} s`,
    '',
  ];
  if (report.results.length > 0) lines.push(table(report.results), '');
  if (report.drains.length > 0) lines.push(markdownTable(DRAIN_COLUMNS, report.drains.map(drainRow)), '');
  for (const result of report.results) {
    const reasons = [...result.clients.sidecar.reasons].map(([r, n]) => `${r} ×${n}`).join(', ');
    if (reasons) lines.push(`- ${result.name}: sidecar-LB client failures: ${reasons}`);
    const rollout = rolloutSummary(result);
    if (rollout) lines.push(`- ${rollout}`);
  }
  lines.push(
    '',
    report.ok ? 'Every scenario behaved as expected.' : 'Some scenarios did NOT behave as expected.',
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const missing = [...(await missingPrerequisites()), ...missingBuild().map((f) => `${f} (npm run build)`)];
  if (missing.length) {
    process.stderr.write(`drill cannot run here; missing: ${missing.join(', ')}\n  (${INSTALL_HINT})\n`);
    return 2;
  }
  // Last resort if something throws past runDrill's cleanup: no process outlives the drill.
  process.on('exit', () => {
    killAllStartedSync();
    releaseLock();
  });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal}: stopping the drill and cleaning up\n`);
      killAllStartedSync();
      // A wrapper (npm, tsx) may SIGKILL this process before the cleanup below is done; the
      // detached cleaner waits for this process to exit and then finishes it.
      spawnDetachedCleanup(process.pid);
      void removeLeftovers()
        .catch((error: unknown) => process.stderr.write(`cleanup: ${String(error)}\n`))
        .finally(() => {
          releaseLock();
          process.exit(130);
        });
    });
  }
  const report = await runDrill(options);
  process.stdout.write(`${formatReport(report)}\n`);
  return report.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`drill failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
