import { CIDR_SOURCE } from '../policy/ip.js';
import { ALLOW_PATTERN_SOURCE } from '../policy/patterns.js';
import { POLICY_KEYS, PORT_RANGE } from './schema.js';

/**
 * The policy document's JSON Schema, draft-04 (the draft AppConfig's JSON_SCHEMA validators take),
 * built from the constants `parsePolicyDocument` validates with: the same keys, port range and
 * regular expressions. It is as strict as `parsePolicyDocument` except for one thing a schema
 * cannot say: an `allowCidrs` range must have no bits set after its prefix length. The sidecar
 * runs `parsePolicyDocument` on every policy before applying it, so that case is refused there.
 */
export function policyJsonSchema(): Record<string, unknown> {
  const [allow, allowPorts, allowCidrs] = POLICY_KEYS;
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    title: 'egress-proxy policy',
    description:
      'Where egress traffic may go. Generated from proxy-app/src/config; validated again by the proxy before it is applied.',
    type: 'object',
    additionalProperties: false,
    required: [allow],
    properties: {
      [allow]: {
        description: 'Host patterns: example.com, *.example.com (subdomains only), optional :port.',
        type: 'array',
        items: { type: 'string', pattern: ALLOW_PATTERN_SOURCE },
      },
      [allowPorts]: {
        description: 'Ports for patterns that name none, and for allowCidrs destinations.',
        type: 'array',
        items: { type: 'integer', minimum: PORT_RANGE[0], maximum: PORT_RANGE[1] },
      },
      [allowCidrs]: {
        description: 'Address ranges a destination may resolve to or name, even if private.',
        type: 'array',
        items: { type: 'string', pattern: CIDR_SOURCE },
      },
    },
  };
}
