import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnDeletionPolicy, Names, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { EgressProxyValidationError } from './errors.js';
import { managedPolicyFinding } from './nag.js';
import { DEFAULT_BUNDLE_DIRECTORY, DEFAULT_IMAGE_DIRECTORY } from './paths.js';
import type { ProxyArchitecture } from './settings.js';

export { DEFAULT_BUNDLE_DIRECTORY, DEFAULT_IMAGE_DIRECTORY };

const BUNDLE_FILES = ['proxy.js', 'sidecar.js', 'package.json'];
const COMPONENT_FILE = 'component.yaml';
/** Image Builder runs a component in the test stage only if its document has the test phase alone. */
const TEST_COMPONENT_FILE = 'test-component.yaml';

export interface ProxyImageProps {
  /** The VPC the build and test instances run in; they need egress to S3, SSM and the OS repositories. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnet for the build and test instances (the first selected subnet is used).
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * CPU architecture of the image; it must match the fleet's instance type.
   * @default 'arm64'
   */
  readonly architecture?: ProxyArchitecture;
  /**
   * Instance type that builds and tests the image.
   * @default - t4g.small for arm64, t3.small for x86_64
   */
  readonly buildInstanceType?: ec2.InstanceType;
  /**
   * Folder with the built `proxy.js`, `sidecar.js` and `package.json`.
   * @default - the bundles shipped in this package (proxy-app/dist)
   */
  readonly bundleDirectory?: string;
  /**
   * Folder with `component.yaml`, the install scripts, the units and host tuning.
   * @default - the image files shipped in this package (image/)
   */
  readonly imageDirectory?: string;
  /**
   * Any text. A new value builds a new image from the newest parent image (Amazon Linux and
   * Node.js security updates) on the next deploy, which rolls the fleet; the same value changes
   * nothing. Without it, the image is rebuilt only when the bundles or image files change.
   * @default - no token
   */
  readonly rebuildToken?: string;
  /**
   * Images of this construct that are kept: the current one and the ones before it, for a
   * rollback. An Image Builder lifecycle policy deletes older ones with their snapshots.
   * @default 3
   */
  readonly keepImages?: number;
}

/**
 * An Amazon Linux 2023 image with the proxy and sidecar baked in, built by EC2 Image Builder when
 * the stack deploys. Component and recipe names carry a hash of both assets, so a changed bundle
 * or image file builds a new image (Image Builder versions are immutable), which changes the
 * launch template and rolls the fleet.
 */
export class ProxyImage extends Construct {
  /** The built AMI's id (a token). */
  readonly imageId: string;
  /** The built AMI for a launch template; safe in environment-agnostic stacks. */
  readonly machineImage: ec2.IMachineImage;
  readonly architecture: ProxyArchitecture;
  /** Hash of everything baked into the image; part of the component and recipe names. */
  readonly contentHash: string;
  /** The role of the build and test instances. */
  readonly buildRole: iam.IRole;

  constructor(scope: Construct, id: string, props: ProxyImageProps) {
    super(scope, id);
    this.architecture = props.architecture ?? 'arm64';
    const bundleDirectory = props.bundleDirectory ?? DEFAULT_BUNDLE_DIRECTORY;
    const imageDirectory = props.imageDirectory ?? DEFAULT_IMAGE_DIRECTORY;
    for (const file of BUNDLE_FILES) {
      if (!existsSync(join(bundleDirectory, file))) {
        throw new EgressProxyValidationError(
          'bundleDirectory',
          `(${bundleDirectory}) has no ${file}: run "npm run build" first`,
          this,
        );
      }
    }
    for (const file of [COMPONENT_FILE, TEST_COMPONENT_FILE]) {
      if (!existsSync(join(imageDirectory, file))) {
        throw new EgressProxyValidationError('imageDirectory', `(${imageDirectory}) has no ${file}`, this);
      }
    }
    const keepImages = props.keepImages ?? 3;
    if (!Number.isInteger(keepImages) || keepImages < 2) {
      throw new EgressProxyValidationError(
        'keepImages',
        `(${keepImages}) must be an integer of at least 2 (the current image and one to roll back to)`,
        this,
      );
    }
    const buildInstanceType =
      props.buildInstanceType ??
      new ec2.InstanceType(this.architecture === 'arm64' ? 't4g.small' : 't3.small');
    const buildArch = buildInstanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'x86_64';
    if (buildArch !== this.architecture) {
      throw new EgressProxyValidationError(
        'buildInstanceType',
        `(${buildInstanceType}) is ${buildArch} but the image is ${this.architecture}`,
        this,
      );
    }

    const bundle = new Asset(this, 'Bundle', { path: bundleDirectory });
    const imageFiles = new Asset(this, 'ImageFiles', { path: imageDirectory });
    this.contentHash = shortHash(bundle.assetHash, imageFiles.assetHash);
    // Names must be unique per account and region; the construct path keeps two stacks apart.
    const prefix = Names.uniqueResourceName(this, { maxLength: 60, separator: '-' }).toLowerCase();

    const role = new iam.Role(this, 'BuildRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'EC2 Image Builder build and test instances of the egress proxy image',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
      ],
    });
    // The two asset objects only (Asset.grantRead would add s3:GetObject*/List* on the whole bucket).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [bundle, imageFiles].map((asset) => asset.bucket.arnForObjects(asset.s3ObjectKey)),
      }),
    );
    this.buildRole = role;
    // One acknowledgment per managed policy, so any other managed policy added later is reported.
    Validations.of(role).acknowledge(
      {
        id: managedPolicyFinding('AmazonSSMManagedInstanceCore'),
        reason:
          'Image Builder drives build and test instances over SSM; this is the AWS-maintained policy for that.',
      },
      {
        id: managedPolicyFinding('EC2InstanceProfileForImageBuilder'),
        reason:
          'The AWS-maintained policy Image Builder requires on build instances (AWSTOE download, build logs).',
      },
    );
    const instanceProfile = new iam.InstanceProfile(this, 'BuildInstanceProfile', { role });

    const securityGroup = new ec2.SecurityGroup(this, 'BuildSecurityGroup', {
      vpc: props.vpc,
      description: 'Egress proxy image build: HTTPS out to S3, SSM and the OS package repositories',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to AWS APIs and package repositories',
    );

    const subnets = props.vpc.selectSubnets(
      props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    );
    const subnetId = subnets.subnetIds[0];
    if (subnetId === undefined) {
      throw new EgressProxyValidationError('vpcSubnets', 'selects no subnet for the image build', this);
    }

    const infrastructure = new imagebuilder.CfnInfrastructureConfiguration(this, 'Infrastructure', {
      name: `${prefix}-${this.architecture}`,
      description: 'Build and test instances of the egress proxy image',
      instanceProfileName: instanceProfile.instanceProfileName,
      instanceTypes: [buildInstanceType.toString()],
      subnetId,
      securityGroupIds: [securityGroup.securityGroupId],
      terminateInstanceOnFailure: true,
      instanceMetadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1 },
    });

    const component = new imagebuilder.CfnComponent(this, 'Component', {
      name: `${prefix}-${this.contentHash}`,
      version: '1.0.0',
      platform: 'Linux',
      supportedOsVersions: ['Amazon Linux 2023'],
      description: 'Installs the egress proxy and sidecar (units disabled) and tests /healthcheck',
      data: readFileSync(join(imageDirectory, COMPONENT_FILE), 'utf8'),
    });
    const testComponent = new imagebuilder.CfnComponent(this, 'TestComponent', {
      name: `${prefix}-test-${this.contentHash}`,
      version: '1.0.0',
      platform: 'Linux',
      supportedOsVersions: ['Amazon Linux 2023'],
      description: 'Requires /healthcheck to answer 200 on an instance launched from the new image',
      data: readFileSync(join(imageDirectory, TEST_COMPONENT_FILE), 'utf8'),
    });

    const parentImage = `ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${this.architecture}`;
    // The parent is resolved when an image is built, so only a new recipe (a new name) takes a
    // newer one: the rebuild token is part of the name. Absent, the name is what it always was.
    const rebuild = props.rebuildToken === undefined ? [] : [props.rebuildToken];
    const recipe = new imagebuilder.CfnImageRecipe(this, 'Recipe', {
      // The recipe is replaced when anything in it changes; its name must change with it.
      name: `${prefix}-${shortHash(this.contentHash, parentImage, ...rebuild)}`,
      version: '1.0.0',
      parentImage,
      components: [
        {
          componentArn: component.attrArn,
          parameters: [
            { name: 'BundleS3Uri', value: [bundle.s3ObjectUrl] },
            { name: 'ImageFilesS3Uri', value: [imageFiles.s3ObjectUrl] },
          ],
        },
        { componentArn: testComponent.attrArn },
      ],
      blockDeviceMappings: [
        {
          deviceName: '/dev/xvda',
          ebs: { encrypted: true, volumeType: 'gp3', volumeSize: 8, deleteOnTermination: true },
        },
      ],
    });

    const imageTag = { 'egress-proxy:image': prefix };
    const image = new imagebuilder.CfnImage(this, 'Image', {
      imageRecipeArn: recipe.attrArn,
      infrastructureConfigurationArn: infrastructure.attrArn,
      imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 60 },
      tags: imageTag,
    });
    // A replaced image stays: a failed update rolls back to it, and the launch template's older
    // version still names it. The lifecycle policy below deletes it once it is old enough.
    image.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
    Validations.of(image).acknowledge({
      id: 'CloudFormation-Validate::W3011',
      reason:
        'Deleting the stack deletes the current image on purpose; only images replaced by an update are kept, until the lifecycle policy retires them.',
    });
    this.retireOldImages(prefix, imageTag, keepImages);
    // The build instance reads the assets through the role's policy, and downloads packages and
    // AWSTOE through the subnet's NAT route: both must exist before the build starts.
    image.node.addDependency(role, subnets.internetConnectivityEstablished);
    this.imageId = image.attrImageId;
    this.machineImage = new BuiltMachineImage(this.imageId);
  }

  /** Keeps the newest `keep` images built here (by tag) and deletes the rest, AMIs and snapshots. */
  private retireOldImages(prefix: string, imageTag: Record<string, string>, keep: number): void {
    const role = new iam.Role(this, 'LifecycleRole', {
      assumedBy: new iam.ServicePrincipal('imagebuilder.amazonaws.com'),
      description: 'EC2 Image Builder deletes old egress proxy images',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/EC2ImageBuilderLifecycleExecutionPolicy'),
      ],
    });
    Validations.of(role).acknowledge({
      id: managedPolicyFinding('service-role/EC2ImageBuilderLifecycleExecutionPolicy'),
      reason:
        'The AWS-maintained policy for Image Builder lifecycle policies; it acts only on images and snapshots tagged CreatedBy=EC2 Image Builder.',
    });
    new imagebuilder.CfnLifecyclePolicy(this, 'Retention', {
      name: `${prefix}-retention`,
      description: `Keeps the newest ${keep} egress proxy images; deletes older ones with their snapshots`,
      executionRole: role.roleArn,
      resourceType: 'AMI_IMAGE',
      resourceSelection: { tagMap: imageTag },
      policyDetails: [
        {
          action: { type: 'DELETE', includeResources: { amis: true, snapshots: true } },
          filter: { type: 'COUNT', value: keep },
        },
      ],
    });
  }
}

/**
 * An `IMachineImage` for an AMI id only known at deploy time. `MachineImage.genericLinux` would put
 * the id into a region Mapping in environment-agnostic stacks, and CloudFormation rejects
 * `Fn::GetAtt` inside Mappings.
 */
export class BuiltMachineImage implements ec2.IMachineImage {
  constructor(private readonly imageId: string) {}

  getImage(_scope: Construct): ec2.MachineImageConfig {
    return {
      imageId: this.imageId,
      osType: ec2.OperatingSystemType.LINUX,
      userData: ec2.UserData.forLinux(),
    };
  }
}

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}
