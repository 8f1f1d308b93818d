import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { JobBucket } from './job-bucket.ts';

export interface WorkQueueProps {
  readonly jobBucket: IBucket;
  /** Buckets pushers write to (`ferry scan DIR --to s3://...`). */
  readonly destinationBuckets: readonly string[];
  /** Buckets pullers read from (`ferry scan s3://... --to DIR`). */
  readonly sourceBuckets: readonly string[];
  /** How often a manifest may be taken and not finished before it is dead-lettered. @default 5 */
  readonly maxReceiveCount?: number;
}

/**
 * The fleet's queue (`ferry scan` sends manifests, `ferry work` takes them), its dead-letter queue
 * with an alarm, and the managed policy a pusher or puller host's role needs: nothing more.
 */
export class WorkQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly deadLetterAlarm: Alarm;
  readonly pusherPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    const common = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14), removalPolicy: RemovalPolicy.DESTROY };
    this.deadLetterQueue = new Queue(this, 'DeadLetters', common);
    this.queue = new Queue(this, 'Queue', {
      ...common,
      // Workers extend it while they work; a worker that dies hands its manifest back after this.
      visibilityTimeout: Duration.minutes(5),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
    this.deadLetterAlarm = new Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'ferry: a manifest was dead-lettered (workers kept dying or timing out on it); ferry status JOB --wait reports its files',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    const bucketArn = (name: string) => `arn:${Stack.of(this).partition}:s3:::${name}`;
    const statements = [
      new PolicyStatement({
        sid: 'TakeAndSendManifests',
        actions: ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        resources: [this.queue.queueArn],
      }),
      new PolicyStatement({
        sid: 'CollectDeadLetters',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        resources: [this.deadLetterQueue.queueArn],
      }),
      new PolicyStatement({ sid: 'FindJobBucket', actions: ['s3:ListBucket'], resources: [props.jobBucket.bucketArn] }),
      new PolicyStatement({
        sid: 'ReadWriteJobs',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [props.jobBucket.arnForObjects(`${JobBucket.PREFIX}*`)],
      }),
    ];
    if (props.destinationBuckets.length) {
      statements.push(
        // Listing finds files already there (skipped); HEAD checks what a multipart upload made.
        new PolicyStatement({ sid: 'ListDestinations', actions: ['s3:ListBucket'], resources: props.destinationBuckets.map(bucketArn) }),
        new PolicyStatement({
          sid: 'WriteDestinations',
          actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
          resources: props.destinationBuckets.map((b) => `${bucketArn(b)}/*`),
        }),
      );
    }
    if (props.sourceBuckets.length) {
      statements.push(
        new PolicyStatement({ sid: 'ListSources', actions: ['s3:ListBucket'], resources: props.sourceBuckets.map(bucketArn) }),
        new PolicyStatement({ sid: 'ReadSources', actions: ['s3:GetObject'], resources: props.sourceBuckets.map((b) => `${bucketArn(b)}/*`) }),
      );
    }
    this.pusherPolicy = new ManagedPolicy(this, 'PusherPolicy', {
      description: 'ferry scan and ferry work on-prem: the work queue, the job bucket, the buckets pushed to and pulled from',
      statements,
    });
  }
}
