import { isIP } from 'node:net';

/** One `allow` entry: `example.com`, `*.example.com` or either with `:port`. */
export interface AllowPattern {
  /** Lower-case name without the `*.` and without a trailing dot. */
  readonly name: string;
  /** `*.name`: any subdomain of name at any depth, never name itself. */
  readonly subdomainsOnly: boolean;
  /** The one port this pattern allows; null means `allowPorts`. */
  readonly port: number | null;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Throws a plain Error saying what is wrong with a pattern; the config layer adds the key. */
export function parseAllowPattern(text: string): AllowPattern {
  const match = /^(\*\.)?([^:]+?)(?::(\d{1,5}))?$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a host pattern (example.com, *.example.com[:port])`);
  const [, wildcard, rawName, portText] = match;
  const name = rawName!.toLowerCase().replace(/\.$/, '');
  if (isIP(name) || /^[\d.]+$/.test(name)) {
    throw new Error(`"${text}" is an IP address: list addresses in allowCidrs instead`);
  }
  if (name.length > 253 || !name.split('.').every((label) => LABEL.test(label))) {
    throw new Error(
      `"${text}" is not a valid host name (letters, digits, "-" and "_" in dot-separated labels; write internationalized names in punycode; "*" only as a leading "*.")`,
    );
  }
  if (wildcard && !name.includes('.')) {
    throw new Error(`"${text}" would allow every name under a top-level domain`);
  }
  const port = portText === undefined ? null : Number(portText);
  if (port !== null && !(port >= 1 && port <= 65535)) {
    throw new Error(`"${text}" has a port outside 1-65535`);
  }
  return { name, subdomainsOnly: wildcard !== undefined, port };
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
