import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import picomatch from 'picomatch';
import { compareKeys } from './keys.ts';
import type { ErrorInfo } from './errors.ts';
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

/**
 * Streams every object under `prefix`, in S3's order (UTF-8 bytes), one page in memory at a time.
 * `startAfter` is a relative key: listing resumes after it.
 */
export async function* listObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
  startAfter = '',
  onRetry: (info: ErrorInfo) => void = () => {},
): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  let previous = startAfter;
  do {
    const page = await withRetry(
      () =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix || undefined,
            ContinuationToken: token,
            StartAfter: token || !startAfter ? undefined : prefix + startAfter,
          }),
        ),
      onRetry,
    );
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined) continue;
      const key = o.Key.slice(prefix.length);
      if (previous !== '' && compareKeys(previous, key) >= 0) {
        throw new ListingOrderError(
          `s3://${bucket} listed "${key}" after "${previous}": the endpoint does not list in UTF-8 byte order as S3 does`,
        );
      }
      previous = key;
      yield {
        key,
        size: o.Size ?? 0,
        etag: o.ETag,
        storageClass: o.StorageClass,
        lastModified: o.LastModified,
      };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
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
