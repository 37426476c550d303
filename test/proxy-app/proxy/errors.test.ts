import { describe, expect, it } from 'vitest';
import { ProxyError, REASONS, type Reason } from '../../../proxy-app/src/proxy/errors.js';

describe('ProxyError', () => {
  it.each(Object.keys(REASONS) as Reason[])(
    '%s has a stable code, its status and a Proxy-Status type',
    (reason) => {
      const error = new ProxyError(reason, 'message');
      expect(error.code).toBe(`EGRESS_${reason.toUpperCase()}`);
      expect(error.status).toBe(REASONS[reason][0]);
      expect(error.proxyStatusError).toMatch(/^[a-z_]+$/);
      expect(error.decision).toBe(error.status === 403 ? 'denied' : 'error');
      expect(error).toBeInstanceOf(Error);
    },
  );
});
