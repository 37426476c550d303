import type { IConstruct } from 'constructs';

/**
 * A prop or setting that cannot work. CDK's own `ValidationError` is internal, so this is the
 * small public equivalent: the message names the construct path, the prop and the offending value.
 */
export class EgressProxyValidationError extends Error {
  readonly code = 'EGRESS_PROXY_INVALID_PROP';
  constructor(
    readonly prop: string,
    problem: string,
    scope?: IConstruct,
  ) {
    super(`${scope ? `${scope.node.path}: ` : ''}${prop} ${problem}`);
    this.name = 'EgressProxyValidationError';
  }
}

/** The installed package lacks a file it ships (a broken install or a package built without `npm pack`). */
export class EgressProxyPackageError extends Error {
  readonly code = 'EGRESS_PROXY_PACKAGE_INCOMPLETE';
  constructor(problem: string) {
    super(problem);
    this.name = 'EgressProxyPackageError';
  }
}
