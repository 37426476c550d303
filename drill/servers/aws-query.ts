/**
 * Answers in the AWS query protocol (form-encoded requests, XML answers), the protocol of the Auto
 * Scaling and ELBv2 APIs, for the few calls the sidecar's lifecycle makes. Shared by the drill's
 * stand-in and the sidecar's end-to-end test. Shapes from the API references (CompleteLifecycleAction,
 * RecordLifecycleActionHeartbeat, DeregisterTargets, DescribeTargetHealth, Common Errors).
 */

export const AUTO_SCALING_XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
export const ELB_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

/** The calls each service answers here, by action name. */
export const AUTO_SCALING_ACTIONS = new Set(['CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat']);

export interface QueryAnswer {
  readonly status: number;
  readonly body: string;
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A successful answer: `<ActionResponse><ActionResult>inner</ActionResult>...`. */
export function querySuccess(action: string, xmlns: string, inner = ''): QueryAnswer {
  return {
    status: 200,
    body:
      `<${action}Response xmlns="${xmlns}"><${action}Result>${inner}</${action}Result>` +
      `<ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></${action}Response>`,
  };
}

/** An error answer, as the SDK parses it into an exception named after `code`. */
export function queryError(code: string, message: string, status = 400): QueryAnswer {
  return {
    status,
    body:
      `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code>` +
      `<Message>${escape(message)}</Message></Error><RequestId>stand-in</RequestId></ErrorResponse>`,
  };
}

/** Auto Scaling's answer to a lifecycle call when no hook waits for the instance. */
export function noActiveLifecycleAction(instanceId: string): QueryAnswer {
  return queryError('ValidationError', `No active Lifecycle Action found with instance ID ${instanceId}`);
}

export interface TargetHealthEntry {
  readonly id: string;
  readonly port: number;
  readonly state: string;
  readonly reason?: string;
}

export function describeTargetHealth(entries: readonly TargetHealthEntry[]): QueryAnswer {
  const members = entries
    .map(
      ({ id, port, state, reason }) =>
        `<member><Target><Id>${escape(id)}</Id><Port>${port}</Port></Target>` +
        `<TargetHealth><State>${state}</State>${reason ? `<Reason>${reason}</Reason>` : ''}</TargetHealth></member>`,
    )
    .join('');
  return querySuccess(
    'DescribeTargetHealth',
    ELB_XMLNS,
    `<TargetHealthDescriptions>${members}</TargetHealthDescriptions>`,
  );
}

/** The form fields of a query-protocol request body. */
export function queryParams(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}
