/**
 * CloudFormation's creation order, read from a synthesized template: a resource is created only
 * after every resource it references (`Ref`, `Fn::GetAtt`, `${X}` or `${X.Attr}` in `Fn::Sub`) or
 * names in `DependsOn` is complete (docs: "CloudFormation creates a resource only after every
 * resource it references ... or names in DependsOn is complete"; aws-facts.md §9).
 */

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: string | readonly string[];
  readonly [key: string]: unknown;
}

export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, TemplateResource>>;
}

/** `${Name}` or `${Name.Attr}` in an `Fn::Sub` string; `${!Literal}` is an escape, not a reference. */
const SUB_REFERENCE = /\$\{([^!}][^}]*)\}/g;

/** The resources `id` directly depends on (references to parameters and pseudo parameters are left out). */
export function directDependencies(template: CfnTemplate, id: string): Set<string> {
  const resource = template.Resources[id];
  if (!resource) throw new Error(`no resource ${id} in the template`);
  const found = new Set<string>();
  const add = (name: string): void => {
    if (name in template.Resources) found.add(name);
  };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'Ref' && typeof value === 'string') add(value);
      else if (key === 'Fn::GetAtt') {
        add(Array.isArray(value) ? String(value[0]) : String(value).split('.')[0]!);
      } else if (key === 'Fn::Sub') {
        const [text, variables] = Array.isArray(value) ? value : [value, {}];
        // Names defined in the variable map are not resources; their values are walked.
        const local = new Set(Object.keys((variables ?? {}) as object));
        for (const match of String(text).matchAll(SUB_REFERENCE)) {
          const name = match[1]!.split('.')[0]!;
          if (!local.has(name)) add(name);
        }
        walk(variables);
      } else walk(value);
    }
  };
  const { DependsOn, ...rest } = resource;
  walk(rest);
  for (const name of typeof DependsOn === 'string' ? [DependsOn] : (DependsOn ?? [])) add(name);
  return found;
}

/** Everything CloudFormation must create before `ids`, transitively (the ids themselves excluded). */
export function dependencyClosure(template: CfnTemplate, ids: readonly string[]): Set<string> {
  const closure = new Set<string>();
  const pending = [...ids];
  while (pending.length > 0) {
    for (const next of directDependencies(template, pending.pop()!)) {
      if (!closure.has(next)) {
        closure.add(next);
        pending.push(next);
      }
    }
  }
  return closure;
}

/** A path of dependencies from `from` to `to`, for a readable failure; undefined when there is none. */
export function dependencyPath(template: CfnTemplate, from: string, to: string): string[] | undefined {
  const previous = new Map<string, string>();
  const queue = [from];
  const seen = new Set(queue);
  while (queue.length > 0) {
    const id = queue.shift()!;
    if (id === to) {
      const path = [to];
      while (path[0] !== from) path.unshift(previous.get(path[0]!)!);
      return path;
    }
    for (const next of directDependencies(template, id)) {
      if (seen.has(next)) continue;
      seen.add(next);
      previous.set(next, id);
      queue.push(next);
    }
  }
  return undefined;
}
