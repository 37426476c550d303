/** One sample of the Prometheus text exposition format (version 0.0.4). */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
  /** The `# TYPE` of the metric family the sample belongs to (`untyped` when none is given). */
  readonly type: string;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const FAMILY_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Parses an exposition; a line it cannot read fails the parse, naming the line. */
export function parsePrometheusText(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', value] = match;
    const labels = Object.fromEntries(
      [...labelText.matchAll(LABEL)].map(([, key, raw]) => [
        key!,
        raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
      ]),
    );
    const family = FAMILY_SUFFIXES.find(
      (suffix) => name!.endsWith(suffix) && types.has(name!.slice(0, -suffix.length)),
    );
    samples.push({
      name: name!,
      labels,
      value: Number(value),
      type: types.get(name!) ?? (family ? types.get(name!.slice(0, -family.length))! : 'untyped'),
    });
  }
  return samples;
}
