import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { CopyStateMachine } from './copy-state-machine.ts';
import { JobBucket } from './job-bucket.ts';
import { ScheduledJob, type ScheduledJobSpec } from './scheduled-job.ts';
import { WorkQueue } from './work-queue.ts';

export interface FerryStatefulStackProps extends StackProps {
  /** Buckets on-prem pullers read from and pushers write to (the pusher policy's scope). */
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
}

/** What outlives deployments: the job bucket, and the fleet's work queue with its dead letters. */
export class FerryStatefulStack extends Stack {
  readonly jobBucket: IBucket;
  readonly work: WorkQueue;

  constructor(scope: Construct, id: string, props: FerryStatefulStackProps) {
    super(scope, id, props);
    this.jobBucket = new JobBucket(this, 'Jobs').bucket;
    this.work = new WorkQueue(this, 'Work', { ...props, jobBucket: this.jobBucket });
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
  /** Jobs run on a schedule (`ferry:schedules` in cdk.json): each a name, an expression and a job. */
  readonly schedules?: readonly ({ readonly name: string; readonly schedule: string } & ScheduledJobSpec)[];
}

/** What can be replaced at will: functions and state machines. */
export class FerryStack extends Stack {
  readonly copy: CopyStateMachine;

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
    for (const { name, schedule, ...job } of props.schedules ?? []) {
      new ScheduledJob(this, `Schedule-${name}`, { copy: this.copy, name, schedule: ScheduleExpression.expression(schedule), job });
    }
  }
}
