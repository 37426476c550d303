/** One `allow` entry: `example.com`, `*.example.com` or either with `:port`. */
export interface AllowPattern {
  /** Lower-case name without the `*.` and without a trailing dot. */
  readonly name: string;
  /** `*.name`: any subdomain of name at any depth, never name itself. */
  readonly subdomainsOnly: boolean;
  /** The one port this pattern allows; null means `allowPorts`. */
  readonly port: number | null;
}

/** One DNS label, either case: letters, digits, "_" and "-", 1-63 characters, no "-" at either end. */
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
/** 1-65535, leading zeros allowed (as Number() reads them), at most five digits in all. */
const PORT = '(?=\\d{1,5}$)0*(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3})';

/**
 * Everything an `allow` entry may be, as one regular expression: `parseAllowPattern` accepts a
 * text exactly when it matches, and the policy's JSON Schema (config/policy-schema.ts) uses the
 * same source, so AppConfig's validator and the proxy cannot disagree. Only ECMAScript features
 * that JSON Schema validators share (no flags, no lookbehind). After an optional `*.`, whose name
 * must have a dot of its own (no wildcard over a top-level domain):
 * - not digits and dots only (an IP address: those belong in allowCidrs),
 * - at most 253 characters before the optional trailing dot,
 * - labels, an optional trailing dot, an optional `:port`.
 */
export const ALLOW_PATTERN_SOURCE =
  '^(?:\\*\\.(?=[^:.]+\\.[^:.]))?' +
  '(?=[^:]*[A-Za-z_-])' +
  '(?=[^:]{1,253}\\.?(?::|$))' +
  `${LABEL}(?:\\.${LABEL})*\\.?` +
  `(?::${PORT})?$`;
const ALLOW_PATTERN = new RegExp(ALLOW_PATTERN_SOURCE);

/** Throws a plain Error saying what is wrong with a pattern; the config layer adds the key. */
export function parseAllowPattern(text: string): AllowPattern {
  if (!ALLOW_PATTERN.test(text)) throw new Error(explainRejected(text));
  const [, wildcard, rawName, portText] = /^(\*\.)?([^:]+)(?::(\d+))?$/.exec(text)!;
  return {
    name: rawName!.toLowerCase().replace(/\.$/, ''),
    subdomainsOnly: wildcard !== undefined,
    port: portText === undefined ? null : Number(portText),
  };
}

/** Why ALLOW_PATTERN refused a text, for the config error; the checks mirror its parts. */
function explainRejected(text: string): string {
  const match = /^(\*\.)?([^:]+?)(?::(\d{1,5}))?$/.exec(text);
  if (!match) return `"${text}" is not a host pattern (example.com, *.example.com[:port])`;
  const [, wildcard, rawName, portText] = match;
  const name = rawName!.replace(/\.$/, '');
  if (/^[\d.]+$/.test(name)) return `"${text}" is an IP address: list addresses in allowCidrs instead`;
  if (portText !== undefined && !(Number(portText) >= 1 && Number(portText) <= 65535)) {
    return `"${text}" has a port outside 1-65535`;
  }
  if (wildcard && !name.includes('.') && new RegExp(`^${LABEL}$`).test(name)) {
    return `"${text}" would allow every name under a top-level domain`;
  }
  return `"${text}" is not a valid host name (letters, digits, "-" and "_" in dot-separated labels of at most 63 characters, 253 in all; write internationalized names in punycode; "*" only as a leading "*.")`;
}

/** Compiled `allow` patterns: exact names and wildcard suffixes in maps, one lookup per label. */
export class Allowlist {
  private readonly exact = new Map<string, PortRule>();
  private readonly subdomainsOf = new Map<string, PortRule>();

  constructor(
    patterns: readonly AllowPattern[],
    private readonly defaultPorts: ReadonlySet<number>,
  ) {
    for (const pattern of patterns) {
      const table = pattern.subdomainsOnly ? this.subdomainsOf : this.exact;
      const rule = table.get(pattern.name) ?? { anyDefaultPort: false, ports: new Set<number>() };
      if (pattern.port === null) rule.anyDefaultPort = true;
      else rule.ports.add(pattern.port);
      table.set(pattern.name, rule);
    }
  }

  /** Whether a normalized host name matches some pattern, and if so whether the port is allowed. */
  match(host: string, port: number): 'allowed' | 'host_not_allowed' | 'port_not_allowed' {
    const rules: PortRule[] = [];
    const exact = this.exact.get(host);
    if (exact) rules.push(exact);
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const rule = this.subdomainsOf.get(host.slice(dot + 1));
      if (rule) rules.push(rule);
    }
    if (rules.length === 0) return 'host_not_allowed';
    const portAllowed = rules.some(
      (rule) => rule.ports.has(port) || (rule.anyDefaultPort && this.defaultPorts.has(port)),
    );
    return portAllowed ? 'allowed' : 'port_not_allowed';
  }
}

interface PortRule {
  anyDefaultPort: boolean;
  ports: Set<number>;
}
