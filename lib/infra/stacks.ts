import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { CopyStateMachine } from './copy-state-machine.ts';
import { JobBucket } from './job-bucket.ts';

/** What outlives deployments: the job bucket. */
export class FerryStatefulStack extends Stack {
  readonly jobBucket: IBucket;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    this.jobBucket = new JobBucket(this, 'Jobs').bucket;
    new CfnOutput(this, 'JobBucketName', { value: this.jobBucket.bucketName, description: 'ferry --job-bucket' });
  }
}

export interface FerryStackProps extends StackProps {
  readonly jobBucket: IBucket;
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
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
  }
}
