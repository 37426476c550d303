/**
 * `egress-proxy-fleet status`: one row per instance of the proxy fleet, and an exit status a
 * pipeline can gate on (0 healthy, 1 below the group minimum, 2 usage, 3 AWS failure, 4 policy
 * lagging). `egress-proxy-fleet policy --wait`: follows a policy rollout until every instance runs
 * the version AppConfig serves.
 */
import { AppConfigClient } from '@aws-sdk/client-appconfig';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { parseArgs } from 'node:util';
import { EXIT, FleetError, type ExitStatus } from './errors.js';
import { gatherStatus, type FleetClients, type FleetSelector } from './status.js';
import { followRollout } from './rollout.js';
import { formatJson, formatTable } from './table.js';

const USAGE = `Usage:
  egress-proxy-fleet status --stack NAME [--target-group ARN] [--region REGION] [--json]
  egress-proxy-fleet status --asg NAME [--target-group ARN] [--region REGION] [--json]
  egress-proxy-fleet policy --stack NAME|--asg NAME [--wait SECONDS] [--region REGION] [--json]

status prints one row per instance of the fleet's Auto Scaling group and exits
  0  when at least MinSize instances are InService and healthy in the target group,
  1  when fewer are,
  2  on a usage error,
  3  when an AWS call failed (after retries) or the group or target group was not found,
  4  when an InService instance has not applied the policy AppConfig serves within --policy-grace.
policy prints the policy AppConfig serves and the version each instance runs; with --wait it
repeats every 5 s until every InService instance runs it (0), or exits 4 when SECONDS have passed.

  --stack NAME         CloudFormation stack; its group is found by the aws:cloudformation:stack-name tag
  --asg NAME           Auto Scaling group name
  --target-group ARN   target group to read health from (default: the one attached to the group)
  --region REGION      AWS region (default: AWS_REGION / the profile's region)
  --json               machine-readable output on stdout
  --policy-grace SECS  how long an instance may run another policy before it lags (default 90)
  --wait SECONDS       (policy) wait up to SECONDS for the rollout to reach every instance
  --workload-subnets IDS  (status) warn about these subnets' routes that bypass the proxy
  -h, --help           this text

AWS_ENDPOINT_URL and the other standard AWS_* variables are honoured.
`;

/**
 * The SDK's standard retry strategy (exponential backoff with jitter, throttling and network errors
 * retried, access denied not) with a few more attempts than its default of 3. AWS_MAX_ATTEMPTS, if
 * set, wins, so an operator can change it without a release.
 */
const MAX_ATTEMPTS = 5;
/** Without these the Node handler waits indefinitely on a black-holed endpoint. */
const CONNECTION_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 15_000;

interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

interface CommandArgs {
  readonly command: 'status' | 'policy';
  readonly selector: FleetSelector;
  readonly region: string | undefined;
  readonly json: boolean;
  readonly policyGraceSeconds: number;
  readonly waitSeconds: number;
  readonly workloadSubnets: readonly string[];
}

const COMMANDS = ['status', 'policy'] as const;

/** Parses the command line; `help` when usage was asked for, otherwise the command's arguments. */
function parseCommandLine(argv: readonly string[]): CommandArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        stack: { type: 'string' },
        asg: { type: 'string' },
        'target-group': { type: 'string' },
        region: { type: 'string' },
        json: { type: 'boolean', default: false },
        'policy-grace': { type: 'string' },
        wait: { type: 'string' },
        'workload-subnets': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    // parseArgs names the offending option; keep its wording, drop its own error class.
    throw new FleetError('FLEET_USAGE', err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const [command, ...extra] = positionals;
  if (command === undefined) throw new FleetError('FLEET_USAGE', `missing command: ${COMMANDS.join(' or ')}`);
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new FleetError(
      'FLEET_USAGE',
      `unknown command '${command}'; the commands are: ${COMMANDS.join(', ')}`,
    );
  if (values.wait !== undefined && command !== 'policy')
    throw new FleetError('FLEET_USAGE', '--wait goes with the policy command');
  if (extra.length > 0) throw new FleetError('FLEET_USAGE', `unexpected argument '${extra[0]}'`);

  const nonEmpty = (name: string, value: string | undefined): string | undefined => {
    if (value !== undefined && value.trim() === '')
      throw new FleetError('FLEET_USAGE', `--${name} must not be empty`);
    return value;
  };
  const stack = nonEmpty('stack', values.stack);
  const asg = nonEmpty('asg', values.asg);
  const targetGroupArn = nonEmpty('target-group', values['target-group']);
  const region = nonEmpty('region', values.region);
  if (stack !== undefined && asg !== undefined) {
    throw new FleetError('FLEET_USAGE', '--stack and --asg select the group two ways; pass one of them');
  }
  if (stack === undefined && asg === undefined) {
    throw new FleetError('FLEET_USAGE', 'pass --stack NAME, or --asg NAME (with --target-group ARN)');
  }
  if (targetGroupArn !== undefined && !targetGroupArn.startsWith('arn:')) {
    throw new FleetError(
      'FLEET_USAGE',
      `--target-group must be a target group ARN (arn:...), got '${targetGroupArn}'`,
    );
  }
  const selector: FleetSelector =
    stack !== undefined
      ? { stack, ...(targetGroupArn ? { targetGroupArn } : {}) }
      : { asg: asg!, ...(targetGroupArn ? { targetGroupArn } : {}) };
  return {
    command: command as CommandArgs['command'],
    selector,
    region,
    json: values.json,
    policyGraceSeconds: seconds('policy-grace', values['policy-grace'], 90),
    waitSeconds: seconds('wait', values.wait, 0),
    workloadSubnets: subnetList(values['workload-subnets']),
  };
}

function subnetList(value: string | undefined): string[] {
  if (value === undefined) return [];
  const ids = value.split(',').map((id) => id.trim());
  const bad = ids.find((id) => !/^subnet-[0-9a-f]{8,17}$/.test(id));
  if (bad !== undefined) {
    throw new FleetError(
      'FLEET_USAGE',
      `--workload-subnets takes subnet ids (subnet-...), comma-separated; got '${bad}'`,
    );
  }
  return ids;
}

function seconds(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,6}$/.test(value)) {
    throw new FleetError('FLEET_USAGE', `--${name} must be a whole number of seconds, got '${value}'`);
  }
  return Number(value);
}

function createClients(region: string | undefined): FleetClients {
  const config = {
    ...(region ? { region } : {}),
    ...(process.env['AWS_MAX_ATTEMPTS'] ? {} : { maxAttempts: MAX_ATTEMPTS }),
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  };
  return {
    autoScaling: new AutoScalingClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ec2: new EC2Client(config),
    appConfig: new AppConfigClient(config),
    logs: new CloudWatchLogsClient(config),
  };
}

async function main(argv: readonly string[], io: Io): Promise<ExitStatus> {
  let json = argv.includes('--json');
  try {
    const args = parseCommandLine(argv);
    if (args === 'help') {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    json = args.json;
    const clients = createClients(args.region);
    try {
      if (args.command === 'policy') {
        return await followRollout(clients, { ...args, stdout: io.stdout });
      }
      const status = await gatherStatus(clients, args.selector, {
        policyGraceSeconds: args.policyGraceSeconds,
        workloadSubnets: args.workloadSubnets,
      });
      io.stdout(json ? formatJson(status) : formatTable(status));
      if (status.belowMinimum) return EXIT.belowMinimum;
      return (status.policy?.laggingCount ?? 0) > 0 ? EXIT.policyLagging : EXIT.ok;
    } finally {
      clients.autoScaling.destroy();
      clients.elbv2.destroy();
      clients.ec2.destroy();
      clients.appConfig.destroy();
      clients.logs.destroy();
    }
  } catch (err) {
    if (!(err instanceof FleetError)) throw err;
    io.stderr(describeError(err));
    // A pipeline reading stdout as JSON gets JSON on failure too, rather than nothing.
    if (json) io.stdout(JSON.stringify({ error: err.toJSON() }, null, 2) + '\n');
    return err.exitStatus;
  }
}

function describeError(err: FleetError): string {
  const lines = [`egress-proxy-fleet: ${err.message} [${err.code}]`];
  if (err.requestId) lines.push(`  request id: ${err.requestId}`);
  if (err.hint) lines.push(`  what to do: ${err.hint}`);
  if (err.code === 'FLEET_USAGE') lines.push('', USAGE);
  return lines.join('\n') + '\n';
}

// Set exitCode rather than calling process.exit, so piped stdout is flushed before the process ends.
main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    // A bug, not an AWS or usage failure: show the stack and use Node's own status for crashes.
    console.error(err);
    process.exitCode = 70;
  },
);
