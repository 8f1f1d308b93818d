import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import picomatch from 'picomatch';
import { compareKeys } from './keys.ts';
import type { ErrorInfo } from './errors.ts';
import { LeanS3, xmlFields } from './lean-s3.ts';
import { withRetry } from './retry.ts';

/** The endpoint listed keys out of S3's order: resuming from a key would skip or repeat some. */
export class ListingOrderError extends Error {
  override name = 'ListingOrderError';
}

export interface ListedObject {
  /** The key relative to the listed prefix. */
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
  readonly storageClass?: string;
  readonly lastModified?: Date;
  /** The version meant (a restore at an instant); absent: the current one. */
  readonly versionId?: string;
}

export interface ListingOptions {
  readonly onRetry?: (info: ErrorInfo) => void;
  /** Keys a page (S3's default, 1,000, when absent). */
  readonly pageSize?: number;
  /** Read pages through the SDK even where the XML path applies (both are tested). */
  readonly sdk?: boolean;
}

interface ObjectPage {
  readonly objects: ListedObject[];
  readonly nextToken?: string;
}

/**
 * Streams every object under `prefix`, in S3's order (UTF-8 bytes), one page in memory at a time.
 * `startAfter` is a relative key: listing resumes after it. Pages are read from the XML as sent
 * where the lean path applies: the SDK's parser spent 30 us a key, a third of a small pull's main
 * thread (docs/benchmarks.md).
 */
export async function* listObjects(client: S3Client, bucket: string, prefix: string, startAfter = '', options: ListingOptions = {}): AsyncGenerator<ListedObject> {
  const { onRetry = () => {}, pageSize } = options;
  const leanPath = options.sdk ? undefined : await LeanS3.for(client);
  const lean = leanPath?.handles(bucket) ? leanPath : undefined;
  let token: string | undefined;
  let previous = startAfter;
  do {
    const query = { bucket, prefix, startAfter: token || !startAfter ? undefined : prefix + startAfter, token, pageSize };
    const page = await withRetry(() => (lean ? leanPage(lean, query) : sdkPage(client, query)), onRetry);
    for (const o of page.objects) {
      const key = o.key.slice(prefix.length);
      if (previous !== '' && compareKeys(previous, key) >= 0) {
        throw new ListingOrderError(
          `s3://${bucket} listed "${key}" after "${previous}": the endpoint does not list in UTF-8 byte order as S3 does`,
        );
      }
      previous = key;
      yield { ...o, key };
    }
    token = page.nextToken;
  } while (token);
}

interface PageQuery {
  readonly bucket: string;
  readonly prefix: string;
  readonly startAfter?: string;
  readonly token?: string;
  readonly pageSize?: number;
}

const OBJECT_FIELDS = /<(Key|Size|ETag|StorageClass|LastModified)>([^<]*)<\/\1>/g;
const PAGE_FIELDS = /<(IsTruncated|NextContinuationToken)>([^<]*)<\/\1>/g;

async function leanPage(lean: LeanS3, q: PageQuery): Promise<ObjectPage> {
  const query: Record<string, string> = { 'list-type': '2' };
  if (q.prefix) query.prefix = q.prefix;
  if (q.token) query['continuation-token'] = q.token;
  if (q.startAfter) query['start-after'] = q.startAfter;
  if (q.pageSize) query['max-keys'] = String(q.pageSize);
  const xml = await lean.getBucketXml(q.bucket, query);
  const objects: ListedObject[] = [];
  for (const [, body] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const field = xmlFields(body!, OBJECT_FIELDS); // Owner's and RestoreStatus's children are not read
    if (field.Key === undefined) continue;
    objects.push({
      key: field.Key,
      size: Number(field.Size ?? 0),
      etag: field.ETag,
      storageClass: field.StorageClass,
      lastModified: field.LastModified === undefined ? undefined : new Date(field.LastModified),
    });
  }
  const page = xmlFields(xml, PAGE_FIELDS); // neither name occurs inside Contents
  return { objects, nextToken: page.IsTruncated === 'true' && page.NextContinuationToken ? page.NextContinuationToken : undefined };
}

async function sdkPage(client: S3Client, q: PageQuery): Promise<ObjectPage> {
  const page = await client.send(
    new ListObjectsV2Command({ Bucket: q.bucket, Prefix: q.prefix || undefined, ContinuationToken: q.token, StartAfter: q.startAfter, MaxKeys: q.pageSize }),
  );
  const objects: ListedObject[] = [];
  for (const o of page.Contents ?? []) {
    if (o.Key === undefined) continue;
    objects.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag, storageClass: o.StorageClass, lastModified: o.LastModified });
  }
  return { objects, nextToken: page.IsTruncated ? page.NextContinuationToken : undefined };
}

/**
 * Include/exclude globs against keys relative to the source prefix. An object is taken when it
 * matches any include (or there are none) and no exclude. `*` stays within one path segment, `**`
 * crosses them; dots are ordinary characters.
 */
export function keyFilter(include: readonly string[], exclude: readonly string[]): (key: string) => boolean {
  const options = { dot: true };
  const inc = include.length ? picomatch([...include], options) : () => true;
  const exc = exclude.length ? picomatch([...exclude], options) : () => false;
  return (key) => inc(key) && !exc(key);
}
