/** The side-by-side table: one line per figure, the ratios, and whether each target holds. */

export type Better = 'higher' | 'lower';

export interface Line {
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  /** Figure per column name; null where it does not apply (e.g. memory of `direct`). */
  readonly values: Readonly<Record<string, number | null>>;
  /** `squid`: ours must be at least as good as squid. `max`: ours must stay under `limit`. */
  readonly target?: { readonly kind: 'squid' } | { readonly kind: 'max'; readonly limit: number };
}

const OURS = 'ours';
const SQUID = 'squid';
const DIRECT = 'direct';

function format(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '-';
  if (Math.abs(value) >= 1_000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return '-';
  if (Number.isNaN(a) || Number.isNaN(b)) return '-';
  return `${(a / b).toFixed(2)}x`;
}

function verdict(line: Line): string {
  const ours = line.values[OURS];
  if (!line.target || ours === null || ours === undefined) return '';
  if (line.target.kind === 'max') return ours < line.target.limit ? `yes (< ${line.target.limit})` : 'NO';
  const squid = line.values[SQUID];
  if (squid === null || squid === undefined) return 'n/a (no squid)';
  const holds = line.better === 'higher' ? ours >= squid : ours <= squid;
  return holds ? 'yes' : 'NO';
}

/** Renders the lines as a fixed-width text table (also valid inside a Markdown code block). */
export function renderTable(columns: readonly string[], lines: readonly Line[]): string {
  const header = ['figure', ...columns, 'ours/squid', 'ours/direct', 'target holds'];
  const rows = lines.map((line) => [
    `${line.label} (${line.unit}, ${line.better} is better)`,
    ...columns.map((column) => format(line.values[column])),
    ratio(line.values[OURS], line.values[SQUID]),
    ratio(line.values[OURS], line.values[DIRECT]),
    verdict(line),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render)].join('\n');
}

/** One line per target that failed, for the summary under the table. */
export function failures(lines: readonly Line[]): string[] {
  return lines.filter((line) => verdict(line) === 'NO').map((line) => line.label);
}
