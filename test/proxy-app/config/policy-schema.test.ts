import AjvDraft04 from 'ajv-draft-04';
import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, parsePolicyDocument, policyJsonSchema } from '../../../proxy-app/src/config/index.js';

// AppConfig's JSON_SCHEMA validators take draft-04; ajv-draft-04 is ajv for exactly that draft.
// A CommonJS module: under NodeNext its class is the default export's `default`.
const Ajv = AjvDraft04.default;
const validate = new Ajv({ strict: true, allErrors: true }).compile(policyJsonSchema());

function parserAccepts(document: unknown): boolean {
  try {
    parsePolicyDocument(document);
    return true;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return false;
  }
}

const ALLOW_ACCEPTED = [
  'example.com',
  'EXAMPLE.com',
  'example.com.',
  '*.example.com',
  '*.example.com.',
  'api.example.com:443',
  'api.example.com:00443',
  'x.example.com:1',
  'x.example.com:65535',
  'localhost',
  '_dmarc.example.com',
  'a-b.example.com',
  '1-2.example',
  '123.example.com',
  'xn--bcher-kva.example',
  `${'a'.repeat(63)}.example.com`,
  // 253 characters before the trailing dot.
  `${'a'.repeat(61)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`,
  `${'a'.repeat(61)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.`,
];

const ALLOW_REFUSED = [
  '',
  '*',
  '*.',
  '.',
  '*.com',
  '*.com.',
  '*.*.com',
  'a.*.com',
  '1.2.3.4',
  '1.2.3.4.',
  '1.2.3.4:443',
  '*.1.2.3.4',
  '10.0.0.0/8',
  '[::1]',
  '::1',
  'example.com:0',
  'example.com:65536',
  'example.com:99999',
  'example.com:000443',
  'example.com:',
  'example.com:443:1',
  'example..com',
  'example.com..',
  '-example.com',
  'example-.com',
  'exa mple.com',
  'exämple.com',
  '\u212Aexample.com',
  'example.com/',
  'https://example.com',
  `${'a'.repeat(64)}.example.com`,
  `${'a'.repeat(62)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`,
  'example.com\n',
];

const CIDR_ACCEPTED = [
  '10.0.0.0/8',
  '10.0.0.0/08',
  '10.1.2.3',
  '10.1.2.3/32',
  '0.0.0.0/0',
  '192.168.0.0/016',
  'fd00::/8',
  '::/0',
  '::1',
  '::1/128',
  '2001:db8::/32',
  '2001:DB8::/32',
  '::ffff:10.0.0.0/104',
  '1:2:3:4:5:6:7:8/128',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '1::8',
];

const CIDR_REFUSED = [
  '',
  '10.0.0.0/33',
  '10.0.0.0/',
  '10.0.0.0/0008',
  '10.0.0.0/-1',
  '010.0.0.0/8',
  '256.0.0.0/8',
  '10.0.0/8',
  '10.0.0.0.0',
  'fd00::/129',
  'fd00::1%eth0',
  '1:2:3:4:5:6:7:8:9',
  '1::2::3',
  ':::',
  'gggg::/16',
  'example.com',
  ' 10.0.0.0/8',
];

/** Valid by the schema's rules but refused by parseCidr: the one thing a schema cannot say. */
const CIDR_HOST_BITS_SET = ['10.0.0.1/8', 'fd00::1/8', '0.0.0.1/0'];

const DOCUMENTS_ACCEPTED: unknown[] = [
  { allow: [] },
  { allow: ['example.com'], allowPorts: [443], allowCidrs: ['10.0.0.0/8'] },
  { allow: ['example.com'], allowPorts: [1, 65535] },
  { allow: ['example.com'], allowPorts: [] },
];

const DOCUMENTS_REFUSED: unknown[] = [
  null,
  [],
  'example.com',
  42,
  {},
  { allowPorts: [443] },
  { allow: 'example.com' },
  { allow: [42] },
  { allow: [null] },
  { allow: ['example.com'], allowPorts: [0] },
  { allow: ['example.com'], allowPorts: [65536] },
  { allow: ['example.com'], allowPorts: [443.5] },
  { allow: ['example.com'], allowPorts: ['443'] },
  { allow: ['example.com'], allowPorts: 443 },
  { allow: ['example.com'], allowCidrs: '10.0.0.0/8' },
  { allow: ['example.com'], allowCidrs: [10] },
  { allow: ['example.com'], colour: 'blue' },
  { allow: ['example.com'], proxy: { port: 3128 } },
  { allow: ['example.com'], allowPorts: null },
];

describe('the policy JSON Schema and parsePolicyDocument', () => {
  it('is a draft-04 schema', () => {
    expect(policyJsonSchema().$schema).toBe('http://json-schema.org/draft-04/schema#');
  });

  it.each(ALLOW_ACCEPTED)('both accept the allow entry %j', (entry) => {
    const document = { allow: [entry] };
    expect(parserAccepts(document)).toBe(true);
    expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(ALLOW_REFUSED)('both refuse the allow entry %j', (entry) => {
    const document = { allow: [entry] };
    expect(parserAccepts(document)).toBe(false);
    expect(validate(document)).toBe(false);
  });

  it.each(CIDR_ACCEPTED)('both accept the allowCidrs entry %j', (entry) => {
    const document = { allow: [], allowCidrs: [entry] };
    expect(parserAccepts(document)).toBe(true);
    expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(CIDR_REFUSED)('both refuse the allowCidrs entry %j', (entry) => {
    const document = { allow: [], allowCidrs: [entry] };
    expect(parserAccepts(document)).toBe(false);
    expect(validate(document)).toBe(false);
  });

  it.each(CIDR_HOST_BITS_SET)(
    'only the parser refuses %j (bits after the prefix: the documented gap)',
    (entry) => {
      const document = { allow: [], allowCidrs: [entry] };
      expect(parserAccepts(document)).toBe(false);
      expect(validate(document)).toBe(true);
    },
  );

  it.each(DOCUMENTS_ACCEPTED.map((d) => [d]))('both accept the document %j', (document) => {
    expect(parserAccepts(document)).toBe(true);
    expect(validate(document), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(DOCUMENTS_REFUSED.map((d) => [d]))('both refuse the document %j', (document) => {
    expect(parserAccepts(document)).toBe(false);
    expect(validate(document)).toBe(false);
  });

  it("reads IP addresses as Node's isIPv4 and isIPv6 do (the parser's address check)", () => {
    const addresses = [
      ...CIDR_ACCEPTED,
      ...CIDR_REFUSED,
      '1.2.3.4',
      '::ffff:1.2.3.4',
      '1:2:3:4:5:6:1.2.3.4',
      '1:2:3:4:5:6:7:1.2.3.4',
      '::1.2.3.4',
      'fe80::',
      '1:2:3:4:5::7:8',
      '1::3:4:5:6:7:8',
    ].filter((text) => !text.includes('/'));
    for (const address of addresses) {
      const node = (isIPv4(address) || isIPv6(address)) && !address.includes('%');
      expect(validate({ allow: [], allowCidrs: [address] }), address).toBe(node);
    }
  });
});
