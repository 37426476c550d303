import { describe, expect, it } from 'vitest';
import { portRanges, reachablePorts } from '../../lib/egress-ports.js';

describe('destination ports the allowlist can reach', () => {
  it.each([
    [{ allow: ['example.com'], allowPorts: [443, 80], allowCidrs: [] }, [80, 443]],
    [{ allow: ['example.com:8443'], allowPorts: [80, 443], allowCidrs: [] }, [8443]],
    [{ allow: ['example.com:8443', '*.example.org'], allowPorts: [443], allowCidrs: [] }, [443, 8443]],
    [{ allow: ['example.com:8443'], allowPorts: [443], allowCidrs: ['10.1.0.0/16'] }, [443, 8443]],
  ])('%j reaches %j', (config, ports) => {
    expect(reachablePorts(config)).toEqual(ports);
  });

  it('folds neighbouring ports into ranges', () => {
    expect(portRanges([443, 80, 8080, 8081, 8082, 81, 443])).toEqual([
      [80, 81],
      [443, 443],
      [8080, 8082],
    ]);
  });
});
