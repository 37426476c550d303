import { Tokenization } from 'aws-cdk-lib';
import { UserData } from 'aws-cdk-lib/aws-ec2';
import type { EgressProxyConfig } from '../proxy-app/src/config/index.js';
import { EgressProxyValidationError } from './errors.js';
import { INSTANCE_CONFIG_PATH } from './instance-config.js';
import { prometheusAgentSection, SCRAPE_CONFIG_PATH, scrapeConfigCommands } from './prometheus-metrics.js';

/** The two units baked into the image (image/systemd/). */
export const PROXY_UNITS = ['egress-proxy.service', 'egress-proxy-sidecar.service'] as const;

/** EC2 rejects user data above 16 KB; leave room for the script around the config. */
const MAX_CONFIG_BYTES = 12 * 1024;
const MAX_USER_DATA_BYTES = 16 * 1024;
/** Bytes a deploy-time value (a generated log group name) is assumed to take in the script. */
const TOKEN_BYTES_ESTIMATE = 256;

/** Seconds systemd waits for the proxy to drain on stop, beyond the configured drain time. */
export const STOP_TIMEOUT_MARGIN_SECONDS = 15;

export interface ProxyUserDataOptions {
  /** The validated instance config (see `buildInstanceConfig`). */
  readonly config: EgressProxyConfig;
  /** CloudWatch Logs group the agent ships the services' logs to. */
  readonly logGroupName: string;
  /**
   * Have the CloudWatch agent scrape both processes' Prometheus metrics into this namespace, through
   * EMF events in this log group (see prometheus-metrics.ts).
   * @default - metrics stay on the instance
   */
  readonly metrics?: { readonly namespace: string; readonly logGroupName: string };
}

/**
 * User data for a fleet instance: writes the config, sizes the proxy's stop timeout to its drain
 * time, starts both units, then (best effort) log and metric shipping. It names no Auto Scaling resource: the
 * group's name in its own launch template's user data would be a dependency cycle.
 */
export function proxyUserData({ config, logGroupName, metrics }: ProxyUserDataOptions): UserData {
  const configJson = JSON.stringify(config, undefined, 2);
  if (Buffer.byteLength(configJson) > MAX_CONFIG_BYTES) {
    throw new EgressProxyValidationError(
      'instance config',
      `is ${Buffer.byteLength(configJson)} bytes; user data holds at most 16 KB, keep the config under ${MAX_CONFIG_BYTES} bytes (shorten the allowlist)`,
    );
  }
  const stopTimeoutSeconds = Math.ceil(config.timeouts.drainMs / 1000) + STOP_TIMEOUT_MARGIN_SECONDS;
  const agentConfig = JSON.stringify({
    logs: {
      logs_collected: {
        files: {
          collect_list: ['proxy', 'sidecar'].map((name) => ({
            file_path: `/var/log/egress-proxy/${name}.log`,
            log_group_name: logGroupName,
            log_stream_name: `{instance_id}/${name}`,
          })),
        },
      },
      ...(metrics && {
        metrics_collected: {
          prometheus: prometheusAgentSection({ ...metrics, scrapeConfigPath: SCRAPE_CONFIG_PATH }),
        },
      }),
    },
  });
  const userData = UserData.forLinux();
  userData.addCommands(
    'set -euo pipefail',
    // The config: root-owned, readable by the service group only.
    'umask 027',
    `cat > ${INSTANCE_CONFIG_PATH} <<'EGRESS_PROXY_CONFIG'`,
    configJson,
    'EGRESS_PROXY_CONFIG',
    `chown root:egress-proxy ${INSTANCE_CONFIG_PATH}`,
    `chmod 0640 ${INSTANCE_CONFIG_PATH}`,
    'umask 022',
    // systemd must wait longer than the proxy drains, or it SIGKILLs open tunnels.
    'mkdir -p /etc/systemd/system/egress-proxy.service.d',
    "cat > /etc/systemd/system/egress-proxy.service.d/stop-timeout.conf <<'EGRESS_PROXY_DROPIN'",
    '[Service]',
    `TimeoutStopSec=${stopTimeoutSeconds}`,
    'EGRESS_PROXY_DROPIN',
    'systemctl daemon-reload',
    `systemctl enable --now ${PROXY_UNITS.join(' ')}`,
    // Log shipping must not keep the proxy from serving: failures are reported, not fatal.
    'mkdir -p /opt/aws/amazon-cloudwatch-agent/etc',
    ...(metrics ? scrapeConfigCommands(config) : []),
    "cat > /opt/aws/amazon-cloudwatch-agent/etc/egress-proxy.json <<'EGRESS_PROXY_CWAGENT'",
    agentConfig,
    'EGRESS_PROXY_CWAGENT',
    '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s' +
      ' -c file:/opt/aws/amazon-cloudwatch-agent/etc/egress-proxy.json' +
      ' || echo "egress-proxy: CloudWatch agent did not start; logs stay in the journal" >&2',
  );
  // A deploy-time name (a token here) counts as TOKEN_BYTES_ESTIMATE, more than a generated name takes.
  const estimate: string = Tokenization.reverseString(userData.render())
    .mapTokens({ mapToken: () => 'x'.repeat(TOKEN_BYTES_ESTIMATE) })
    .join({ join: (left: unknown, right: unknown) => `${String(left)}${String(right)}` });
  const bytes = Buffer.byteLength(estimate);
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new EgressProxyValidationError(
      'instance config',
      `makes user data about ${bytes} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES} (shorten the allowlist)`,
    );
  }
  return userData;
}
