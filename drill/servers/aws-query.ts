/**
 * Answers in the AWS query protocol (form-encoded requests, XML answers), the protocol of the Auto
 * Scaling and ELBv2 APIs, for the few calls the sidecar's lifecycle makes. Shared by the drill's
 * stand-in and the sidecar's tests. Shapes from the API references (CompleteLifecycleAction,
 * RecordLifecycleActionHeartbeat, DeregisterTargets, DescribeTargetHealth, Common Errors).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

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

export function writeAnswer(res: ServerResponse, answer: QueryAnswer): void {
  res.writeHead(answer.status, { 'content-type': 'text/xml' }).end(answer.body);
}

/** The form fields of a query-protocol request body. */
export function queryParams(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

const MAX_BODY_BYTES = 64 * 1024;

/** A request's body as text; a body over 64 KiB destroys the request (these calls send a few hundred bytes). */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY_BYTES) req.destroy(new Error('request body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
