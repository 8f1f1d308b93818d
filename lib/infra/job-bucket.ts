import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface JobBucketProps {
  /** How long a job's manifests, results and reports are kept. @default Duration.days(30) */
  readonly jobRetention?: Duration;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** The job store in the cloud: encrypted, TLS-only, private, job data expiring on its own. */
export class JobBucket extends Construct {
  readonly bucket: Bucket;
  /** Key prefix of job data in the bucket (the Lambdas' FERRY_JOB_PREFIX). */
  static readonly PREFIX = 'jobs/';

  constructor(scope: Construct, id: string, props: JobBucketProps = {}) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-job-data', prefix: JobBucket.PREFIX, expiration: props.jobRetention ?? Duration.days(30) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }
}
