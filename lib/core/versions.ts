// A bucket as it was at an instant, from ListObjectVersions: for each key, the newest version not
// newer than the instant. Streams one page at a time; a key's versions may span pages.
import { GetBucketVersioningCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { BadInputError } from './errors.ts';
import { compareKeys } from './keys.ts';
import { LeanS3, xmlFields } from './lean-s3.ts';
import { type ListedObject, type ListingOptions, ListingOrderError } from './listing.ts';
import { withRetry } from './retry.ts';

/** One entry of a version listing, in S3's order: keys ascending, each key's versions newest first. */
export interface ListedVersion {
  readonly key: string;
  readonly versionId: string;
  readonly deleteMarker: boolean;
  readonly lastModified: Date;
  readonly size: number;
  readonly etag?: string;
  readonly storageClass?: string;
}

/** What a key was at the instant: an object (its version), or why there is none. */
export type KeyAt =
  | { readonly state: 'present'; readonly object: ListedObject & { readonly versionId: string } }
  /** Its newest version then was a delete marker. */
  | { readonly state: 'deleted'; readonly key: string; readonly versionId: string }
  /** Every version is newer: the key did not exist yet. */
  | { readonly state: 'later'; readonly key: string };

/**
 * Each key under `prefix` (after the relative key `startAfter`) as it was at `at`. S3 lists a
 * key's versions newest first, so the first one not newer than `at` is the one; when it is a
 * delete marker the key had been deleted. The `null` version of an object written before
 * versioning was enabled is listed as any other. Times are LastModified's, to the second.
 */
export async function* keysAt(
  client: S3Client,
  bucket: string,
  prefix: string,
  at: Date,
  startAfter = '',
  options: ListingOptions = {},
): AsyncGenerator<KeyAt> {
  let current: string | undefined;
  let settled = false;
  for await (const v of listVersions(client, bucket, prefix, startAfter, options)) {
    if (v.key !== current) {
      if (current !== undefined && !settled) yield { state: 'later', key: current };
      current = v.key;
      settled = false;
    }
    if (settled || v.lastModified.getTime() > at.getTime()) continue;
    settled = true;
    if (v.deleteMarker) yield { state: 'deleted', key: v.key, versionId: v.versionId };
    else {
      const { key, size, etag, storageClass, lastModified, versionId } = v;
      yield { state: 'present', object: { key, size, etag, storageClass, lastModified, versionId } };
    }
  }
  if (current !== undefined && !settled) yield { state: 'later', key: current };
}

/**
 * Every version and delete marker under `prefix`, in S3's order, keys relative. Read from the XML
 * as sent (see LeanS3.getBucketXml); where the lean path does not apply, from the SDK, whose
 * response holds versions and delete markers apart: they are merged back by time, a delete
 * marker first when both are of the same second.
 */
export async function* listVersions(
  client: S3Client,
  bucket: string,
  prefix: string,
  startAfter = '',
  options: ListingOptions = {},
): AsyncGenerator<ListedVersion> {
  const { onRetry = () => {}, pageSize } = options;
  const leanPath = options.sdk ? undefined : await LeanS3.for(client);
  const lean = leanPath?.handles(bucket) ? leanPath : undefined;
  let keyMarker = startAfter ? prefix + startAfter : undefined;
  let versionMarker: string | undefined;
  let previous = '';
  for (;;) {
    const page = await withRetry(
      () => (lean ? leanPage(lean, bucket, prefix, keyMarker, versionMarker, pageSize) : sdkPage(client, bucket, prefix, keyMarker, versionMarker, pageSize)),
      onRetry,
    );
    for (const v of page.versions) {
      const key = v.key.slice(prefix.length);
      if (previous !== '' && compareKeys(previous, key) > 0) {
        throw new ListingOrderError(`s3://${bucket} listed versions of "${key}" after "${previous}": not in S3's order`);
      }
      previous = key;
      yield { ...v, key };
    }
    if (!page.truncated) return;
    keyMarker = page.nextKeyMarker;
    versionMarker = page.nextVersionIdMarker;
  }
}

interface VersionPage {
  readonly versions: ListedVersion[];
  readonly truncated: boolean;
  readonly nextKeyMarker?: string;
  readonly nextVersionIdMarker?: string;
}

const VERSION_FIELDS = /<(Key|VersionId|LastModified|Size|ETag|StorageClass)>([^<]*)<\/\1>/g;
const PAGE_FIELDS = /<(IsTruncated|NextKeyMarker|NextVersionIdMarker)>([^<]*)<\/\1>/g;

async function leanPage(lean: LeanS3, bucket: string, prefix: string, keyMarker?: string, versionMarker?: string, pageSize?: number): Promise<VersionPage> {
  const query: Record<string, string> = { versions: '' };
  if (pageSize) query['max-keys'] = String(pageSize);
  if (prefix) query.prefix = prefix;
  if (keyMarker) query['key-marker'] = keyMarker;
  if (keyMarker && versionMarker) query['version-id-marker'] = versionMarker;
  const xml = await lean.getBucketXml(bucket, query);
  const versions: ListedVersion[] = [];
  for (const [, kind, body] of xml.matchAll(/<(Version|DeleteMarker)>([\s\S]*?)<\/\1>/g)) {
    const field = xmlFields(body!, VERSION_FIELDS);
    versions.push({
      key: field.Key ?? '',
      versionId: field.VersionId ?? 'null',
      deleteMarker: kind === 'DeleteMarker',
      lastModified: new Date(field.LastModified ?? 0),
      size: Number(field.Size ?? 0),
      etag: field.ETag,
      storageClass: field.StorageClass,
    });
  }
  const page = xmlFields(xml.replace(/<(Version|DeleteMarker|CommonPrefixes)>[\s\S]*?<\/\1>/g, ''), PAGE_FIELDS);
  return { versions, truncated: page.IsTruncated === 'true', nextKeyMarker: page.NextKeyMarker, nextVersionIdMarker: page.NextVersionIdMarker };
}

async function sdkPage(client: S3Client, bucket: string, prefix: string, keyMarker?: string, versionMarker?: string, pageSize?: number): Promise<VersionPage> {
  const page = await client.send(
    new ListObjectVersionsCommand({
      Bucket: bucket,
      MaxKeys: pageSize,
      Prefix: prefix || undefined,
      KeyMarker: keyMarker,
      VersionIdMarker: keyMarker ? versionMarker : undefined,
    }),
  );
  const versions: ListedVersion[] = [
    ...(page.Versions ?? []).map((v) => ({
      key: v.Key ?? '',
      versionId: v.VersionId ?? 'null',
      deleteMarker: false,
      lastModified: v.LastModified ?? new Date(0),
      size: v.Size ?? 0,
      etag: v.ETag,
      storageClass: v.StorageClass,
    })),
    ...(page.DeleteMarkers ?? []).map((m) => ({
      key: m.Key ?? '',
      versionId: m.VersionId ?? 'null',
      deleteMarker: true,
      lastModified: m.LastModified ?? new Date(0),
      size: 0,
    })),
  ];
  versions.sort(
    (a, b) =>
      compareKeys(a.key, b.key) || b.lastModified.getTime() - a.lastModified.getTime() || Number(b.deleteMarker) - Number(a.deleteMarker),
  );
  return { versions, truncated: page.IsTruncated === true, nextKeyMarker: page.NextKeyMarker, nextVersionIdMarker: page.NextVersionIdMarker };
}

/**
 * A restore at an instant needs versions: a bucket whose versioning was never enabled has only
 * the current state, which `--at` would silently pass off as the past.
 */
export async function assertVersioned(client: S3Client, bucket: string): Promise<void> {
  const out = await client.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  if (out.Status !== 'Enabled' && out.Status !== 'Suspended') {
    throw new BadInputError(`s3://${bucket} has never had versioning enabled: it holds no past versions to restore --at a time from (without --at, ferry restores its current state)`);
  }
}
