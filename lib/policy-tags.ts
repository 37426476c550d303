/**
 * Tags the stack puts on the Auto Scaling group so that `egress-proxy-fleet` finds the fleet's
 * policy (PolicyDistribution writes them, fleet-cli reads them). Plain constants: the construct
 * library and the command share them without either importing the other's dependencies.
 */
export const POLICY_TAGS = {
  /** `<application id>/<environment id>` of the AppConfig environment the fleet polls. */
  appConfig: 'egress-proxy:appconfig-environment',
  /** The log group the instances ship the sidecar's log to. */
  logGroup: 'egress-proxy:log-group',
} as const;
