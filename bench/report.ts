/**
 * The side-by-side table: one line per figure (the median of the repeats, with how far they
 * spread), our proxy's ratio to the better squid, and whether each target holds.
 */
import { halfSpread, median } from './stats.js';

export type Better = 'higher' | 'lower';

export interface Line {
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  /** One figure per repeat, per column name; empty or missing where it does not apply. */
  readonly values: Readonly<Record<string, readonly number[]>>;
  /** `squid`: ours at least as good as the better squid. `max`: ours under `limit`. */
  readonly target?: { readonly kind: 'squid' } | { readonly kind: 'max'; readonly limit: number };
}

/** Which column is judged, and which are the references it is judged against. */
export interface Judged {
  readonly ours: string;
  readonly references: readonly string[];
}

function format(value: number): string {
  if (Number.isNaN(value)) return '-';
  if (Math.abs(value) >= 1_000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(values: readonly number[] | undefined): string {
  const figure = format(median(values ?? []));
  const spread = halfSpread(values ?? []);
  return Number.isNaN(spread) ? figure : `${figure} ±${Math.round(spread * 100)}%`;
}

function figureOf(line: Line, column: string): number {
  return median(line.values[column] ?? []);
}

/** The better of the reference columns on this line (NaN if none has a figure). */
function bestReference(line: Line, judged: Judged): number {
  const figures = judged.references.map((name) => figureOf(line, name)).filter(Number.isFinite);
  if (figures.length === 0) return Number.NaN;
  return line.better === 'higher' ? Math.max(...figures) : Math.min(...figures);
}

function ratio(line: Line, judged: Judged): string {
  const ours = figureOf(line, judged.ours);
  const best = bestReference(line, judged);
  if (!Number.isFinite(ours) || !Number.isFinite(best) || best === 0) return '-';
  return `${(ours / best).toFixed(2)}x`;
}

function verdict(line: Line, judged: Judged): string {
  const ours = figureOf(line, judged.ours);
  if (!line.target || Number.isNaN(ours)) return '';
  if (line.target.kind === 'max') return ours < line.target.limit ? `yes (< ${line.target.limit})` : 'NO';
  const best = bestReference(line, judged);
  if (Number.isNaN(best)) return 'n/a (no squid)';
  const holds = line.better === 'higher' ? ours >= best : ours <= best;
  return holds ? 'yes' : 'NO';
}

/** Renders the lines as a fixed-width text table (also valid inside a Markdown code block). */
export function renderTable(columns: readonly string[], lines: readonly Line[], judged: Judged): string {
  const header = ['figure', ...columns, `${judged.ours}/best squid`, 'target holds'];
  const rows = lines.map((line) => [
    `${line.label} (${line.unit}, ${line.better} is better)`,
    ...columns.map((column) => cell(line.values[column])),
    ratio(line, judged),
    verdict(line, judged),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const render = (cells: readonly string[]): string =>
    cells
      .map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render)].join('\n');
}

/** One entry per target that failed, for the summary under the table. */
export function failures(lines: readonly Line[], judged: Judged): string[] {
  return lines.filter((line) => verdict(line, judged) === 'NO').map((line) => line.label);
}
