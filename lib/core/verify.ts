import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { type Entry, mergeJoin } from './diff.ts';
import { plainMd5 } from './etag.ts';
import type { S3Location } from './locations.ts';
import { keyFilter, listObjects } from './listing.ts';
import { filesAt } from './walk.ts';
import { withRetry } from './retry.ts';

/** One way the two sides differ at a key. */
export interface Difference {
  key: string;
  /** missing: only in the source; extra: only at the destination; size or checksum: both, not equal. */
  kind: 'missing' | 'extra' | 'size' | 'checksum';
  detail: string;
}

export interface VerifyCounts {
  source: number;
  destination: number;
  /** Same key, same size, and equal checksums (ETags, or the bytes' MD5 with deep). */
  matched: number;
  /** Same key and size, but no checksum could be compared (multipart or SSE-KMS ETags, without deep). */
  sizeOnly: number;
  missing: number;
  extra: number;
  differ: number;
}

/** A bucket (with its client) or a directory. */
export type VerifySide = (S3Location & { readonly client: S3Client }) | { readonly kind: 'dir'; readonly path: string };

/**
 * Compares two sides (buckets or directories) from their listings or walks, merge-joined in key
 * order (memory does not grow with the number of keys): keys, sizes, and ETags where both are
 * single-part MD5s or are equal. With `deep`, what cannot be compared so (multipart ETags, files)
 * is read on both sides and the MD5s of the bytes compared. Calls
 * `onDifference` for each difference, in key order.
 */
export async function verify(
  source: VerifySide,
  destination: VerifySide,
  options: { include: readonly string[]; exclude: readonly string[]; deep: boolean; concurrency?: number },
  onDifference: (d: Difference) => void,
): Promise<VerifyCounts> {
  const wanted = keyFilter(options.include, options.exclude);
  const counts: VerifyCounts = { source: 0, destination: 0, matched: 0, sizeOnly: 0, missing: 0, extra: 0, differ: 0 };
  // Deep reads run a few at a time; their differences are reported once each is known, in key order.
  const reads: Promise<Difference | undefined>[] = [];
  const limit = options.concurrency ?? 16;
  const drain = async (keep: number) => {
    while (reads.length > keep) {
      const d = await reads.shift();
      if (d) report(d);
      else counts.matched++;
    }
  };
  const report = (d: Difference) => {
    if (d.kind === 'missing') counts.missing++;
    else if (d.kind === 'extra') counts.extra++;
    else counts.differ++;
    onDifference(d);
  };

  const listed = (side: VerifySide): AsyncIterable<Entry> => (side.kind === 'dir' ? filesAt(side.path) : listObjects(side.client, side.bucket, side.prefix));
  for await (const [s, d] of mergeJoin(listed(source), listed(destination))) {
    const key = (s ?? d)!.key;
    if (!wanted(key)) continue;
    if (s) counts.source++;
    if (d) counts.destination++;
    let found: Difference | undefined;
    if (!d) found = { key, kind: 'missing', detail: `${s!.size} bytes, not at the destination` };
    else if (!s) found = { key, kind: 'extra', detail: `${d.size} bytes, not in the source` };
    else if (s.size !== d.size) found = { key, kind: 'size', detail: `${s.size} bytes in the source, ${d.size} at the destination` };
    else if (s.etag && s.etag === d.etag) {
      await drain(0);
      counts.matched++;
      continue;
    } else if (plainMd5(s.etag) && plainMd5(d.etag)) {
      found = { key, kind: 'checksum', detail: `ETag ${s.etag} in the source, ${d.etag} at the destination` };
    } else if (options.deep) {
      reads.push(compareBytes(source, destination, s, d));
      await drain(limit - 1);
      continue;
    } else {
      await drain(0);
      counts.sizeOnly++;
      continue;
    }
    await drain(0);
    report(found);
  }
  await drain(0);
  return counts;
}

/** Reads an object on both sides and compares the MD5 of their bytes. */
async function compareBytes(source: VerifySide, destination: VerifySide, s: Entry, d: Entry): Promise<Difference | undefined> {
  const [a, b] = await Promise.all([md5Of(source, s), md5Of(destination, d)]);
  if (a === b) return undefined;
  return { key: s.key, kind: 'checksum', detail: `MD5 of the bytes ${a} in the source, ${b} at the destination` };
}

async function md5Of(side: VerifySide, o: Entry): Promise<string> {
  if (side.kind === 'dir') {
    const hash = createHash('md5');
    for await (const chunk of createReadStream(path.join(side.path, o.key))) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }
  return withRetry(
    async () => {
      const got = await side.client.send(new GetObjectCommand({ Bucket: side.bucket, Key: side.prefix + o.key, IfMatch: o.etag }));
      const hash = createHash('md5');
      for await (const chunk of got.Body as AsyncIterable<Buffer>) hash.update(chunk);
      return hash.digest('hex');
    },
    () => {},
  );
}
