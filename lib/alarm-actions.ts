import { Aspects, Token, Validations, type IAspect } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';
import { EgressProxyValidationError } from './errors.js';

export interface AlarmNotificationsProps {
  /**
   * An existing SNS topic (standard, in the stack's region) that receives every alarm.
   * @default - none
   */
  readonly topicArn?: string;
  /**
   * An address that receives every alarm by e-mail: a topic is created with this subscription,
   * which the address must confirm from the message AWS sends it.
   * @default - none
   */
  readonly email?: string;
}

/** A standard SNS topic's ARN (any partition). */
export const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
/** Enough of an e-mail address to catch a wrong setting; SNS checks the rest. */
export const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * Sends every CloudWatch alarm under a scope to SNS, on ALARM and on OK (so a recovery is
 * reported too): an existing topic, an e-mail address through a new topic, or both.
 * `applyTo(scope)` covers alarms added to the scope later as well.
 */
export class AlarmNotifications extends Construct {
  /** The topics every alarm notifies; empty when neither prop is set. */
  readonly topics: sns.ITopic[] = [];

  constructor(scope: Construct, id: string, props: AlarmNotificationsProps) {
    super(scope, id);
    const { topicArn, email } = props;
    if (topicArn !== undefined && !Token.isUnresolved(topicArn) && !TOPIC_ARN.test(topicArn)) {
      throw new EgressProxyValidationError('topicArn', `(${topicArn}) is not an SNS topic ARN`, this);
    }
    if (email !== undefined && !Token.isUnresolved(email) && !EMAIL.test(email)) {
      throw new EgressProxyValidationError('email', `(${email}) is not an e-mail address`, this);
    }
    if (topicArn !== undefined) this.topics.push(sns.Topic.fromTopicArn(this, 'Topic', topicArn));
    if (email !== undefined) {
      const topic = new sns.Topic(this, 'EmailTopic', {
        displayName: 'Egress proxy alarms',
        enforceSSL: true,
      });
      topic.addSubscription(new subscriptions.EmailSubscription(email));
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SNS2',
        reason:
          'The topic carries alarm names and states only. CloudWatch can publish to an encrypted topic only with a customer managed KMS key whose policy admits it (SNS developer guide, "Enable compatibility between event sources from AWS services and encrypted topics"), a cost not worth it for that content.',
      });
      this.topics.push(topic);
    }
  }

  /** Adds the topics to the ALARM and OK actions of every alarm under `scope`, at synth. */
  applyTo(scope: IConstruct): void {
    if (this.topics.length === 0) return;
    const topicActions = this.topics.map((topic) => new actions.SnsAction(topic));
    const aspect: IAspect = {
      visit(node: IConstruct): void {
        if (!(node instanceof cloudwatch.Alarm)) return;
        node.addAlarmAction(...topicActions);
        node.addOkAction(...topicActions);
      },
    };
    Aspects.of(scope).add(aspect);
  }
}
