import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { BadInputError, CannotRunError, classify } from './errors.ts';
import { formatS3, type S3Location } from './locations.ts';

/**
 * Checks, before anything is written, that the source can be listed and the destination bucket
 * exists, and turns what went wrong into one clear line (BadInputError: exit 2, CannotRunError: 3).
 */
export async function checkSource(client: S3Client, loc: S3Location): Promise<void> {
  try {
    await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.prefix || undefined, MaxKeys: 1 }));
  } catch (err) {
    throw explain(err, `source ${formatS3(loc)}`, 'list');
  }
}

/** Returns the bucket's region as S3 states it (undefined where a store does not say). */
export async function checkDestination(client: S3Client, loc: S3Location): Promise<string | undefined> {
  try {
    const out = await client.send(new HeadBucketCommand({ Bucket: loc.bucket }));
    return out.BucketRegion;
  } catch (err) {
    throw explain(err, `destination ${formatS3(loc)}`, 'write to');
  }
}

/** The bucket's region as S3 states it (x-amz-bucket-region); undefined where a store does not say. */
export async function bucketRegion(client: S3Client, bucket: string): Promise<string | undefined> {
  const out = await client.send(new HeadBucketCommand({ Bucket: bucket }));
  return out.BucketRegion;
}

export function explain(err: unknown, what: string, verb: string): Error {
  const e = err as Error & { $metadata?: { httpStatusCode?: number } };
  const { code, message } = classify(err);
  const status = e.$metadata?.httpStatusCode;
  let out: Error;
  if (e.name === 'CredentialsProviderError' || /credential/i.test(message)) {
    out = new CannotRunError(`no AWS credentials for ${what}: set AWS_PROFILE, --profile or the AWS_ACCESS_KEY_ID variables`);
  } else if (/region is missing/i.test(message)) {
    out = new BadInputError(`no AWS region for ${what}: set --region or AWS_REGION`);
  } else if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'ExpiredToken') {
    out = new CannotRunError(`${what}: credentials rejected (${code})`);
  } else if (code === 'NoSuchBucket' || code === 'NotFound' || status === 404) {
    out = new BadInputError(`${what}: bucket does not exist`);
  } else if (code === 'AccessDenied' || code === 'Forbidden' || status === 403) {
    out = new CannotRunError(`${what}: access denied (cannot ${verb} it with these credentials)`);
  } else if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'TimeoutError'].includes(code)) {
    out = new CannotRunError(`${what}: endpoint unreachable (${code})`);
  } else {
    out = new CannotRunError(`${what}: ${code}: ${message}`);
  }
  out.cause = err;
  return out;
}
