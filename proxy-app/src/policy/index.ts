export { Policy, clientAddress, type Denial, type DenialReason, type Destination } from './policy.js';
export { DestinationSyntaxError, parseAbsoluteUrl, parseAuthority } from './destination.js';
export { formatIp, parseIp, type IpBytes } from './ip.js';
export { policyVersion } from './version.js';
