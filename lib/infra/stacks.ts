import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { CopyStateMachine } from './copy-state-machine.ts';
import { FerryDashboard } from './dashboard.ts';
import { JobBucket } from './job-bucket.ts';
import { ScheduledJob, type ScheduledJobSpec } from './scheduled-job.ts';
import { WorkQueue } from './work-queue.ts';

export interface FerryStatefulStackProps extends StackProps {
  /** Buckets on-prem pullers read from and pushers write to (the pusher policy's scope). */
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
}

/** What outlives deployments: the job bucket, the fleet's work queue with its dead letters, and the topic alarms go to. */
export class FerryStatefulStack extends Stack {
  readonly jobBucket: IBucket;
  readonly work: WorkQueue;
  /** Every ferry alarm is sent here: subscribe (email, chat, paging) once, it stays. */
  readonly alarmTopic: Topic;

  constructor(scope: Construct, id: string, props: FerryStatefulStackProps) {
    super(scope, id, props);
    this.jobBucket = new JobBucket(this, 'Jobs').bucket;
    this.work = new WorkQueue(this, 'Work', { ...props, jobBucket: this.jobBucket });
    this.alarmTopic = new Topic(this, 'Alarms', { enforceSSL: true });
    this.work.deadLetterAlarm.addAlarmAction(new SnsAction(this.alarmTopic));
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'subscribe to hear of failed objects, failed executions and dead letters' });
    new CfnOutput(this, 'JobBucketName', { value: this.jobBucket.bucketName, description: 'ferry --job-bucket' });
    new CfnOutput(this, 'WorkQueueUrl', { value: this.work.queue.queueUrl, description: 'ferry scan/work --queue' });
    new CfnOutput(this, 'PusherPolicyArn', { value: this.work.pusherPolicy.managedPolicyArn, description: 'attach to the role on-prem hosts assume' });
  }
}

export interface FerryStackProps extends StackProps {
  readonly jobBucket: IBucket;
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
  /** Roles in other accounts the functions may assume for a side (`--source-role-arn`, `--dest-role-arn`). */
  readonly assumableRoles?: readonly string[];
  /** Buckets of S3 Inventory reports the planner may read (`--from-inventory`). */
  readonly inventoryBuckets?: readonly string[];
  /** Where the alarms go, and the fleet's queue and dead-letter alarm for the dashboard (the stateful stack's). */
  readonly alarmTopic?: ITopic;
  readonly work?: WorkQueue;
  /** Jobs run on a schedule (`ferry:schedules` in cdk.json): each a name, an expression and a job. */
  readonly schedules?: readonly ({ readonly name: string; readonly schedule: string } & ScheduledJobSpec)[];
}

/** What can be replaced at will: functions, state machines, the dashboard and its alarms. */
export class FerryStack extends Stack {
  readonly copy: CopyStateMachine;
  readonly dashboard?: FerryDashboard;

  constructor(scope: Construct, id: string, props: FerryStackProps) {
    super(scope, id, props);
    this.copy = new CopyStateMachine(this, 'Copy', props);
    new CfnOutput(this, 'CopyStateMachineArn', {
      value: this.copy.stateMachine.stateMachineArn,
      description: 'ferry --engine aws --state-machine-arn',
    });
    new CfnOutput(this, 'RestoreStateMachineArn', {
      value: this.copy.restoreStateMachine.stateMachineArn,
      description: 'ferry restore --engine aws --state-machine-arn',
    });
    if (props.alarmTopic) {
      this.dashboard = new FerryDashboard(this, 'Watch', {
        copy: this.copy,
        topic: props.alarmTopic,
        workQueue: props.work?.queue,
        deadLetterAlarm: props.work?.deadLetterAlarm,
      });
    }
    for (const { name, schedule, ...job } of props.schedules ?? []) {
      new ScheduledJob(this, `Schedule-${name}`, { copy: this.copy, name, schedule: ScheduleExpression.expression(schedule), job });
    }
  }
}
