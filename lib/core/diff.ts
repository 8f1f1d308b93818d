import { plainMd5 } from './etag.ts';
import { compareKeys } from './keys.ts';
import { type ListedObject, ListingOrderError } from './listing.ts';

/** One key on one side of a sync, as a listing or a directory walk gives it. */
export interface Entry {
  /** The key relative to the side's prefix or directory. */
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
  /**
   * Source: when the content last changed (S3 LastModified, a file's mtime). Destination: when the
   * copy there was written (S3 LastModified, a file's ctime, which restoring an mtime does not set back).
   */
  readonly time?: Date;
}

/** How a sync decides that a key present on both sides differs. */
export type Compare = 'time' | 'size-only' | 'checksum';

export type Decision =
  | { readonly action: 'copy'; readonly reason: 'missing' | 'size' | 'newer' | 'checksum' }
  | { readonly action: 'skip' }
  | { readonly action: 'extra' };

/** A listed object as the truth table sees it: its time is its LastModified. */
export function entryOf(o: ListedObject): Entry {
  return { key: o.key, size: o.size, etag: o.etag, time: o.lastModified };
}

/**
 * What a sync does with one key, from the two listings alone (no request per object):
 *
 * | source  | destination | size      | --size-only | default (time)                      | --checksum                                   |
 * |---------|-------------|-----------|-------------|-------------------------------------|----------------------------------------------|
 * | present | absent      |           | copy        | copy                                | copy                                         |
 * | absent  | present     |           | extra       | extra                               | extra                                        |
 * | present | present     | differs   | copy        | copy                                | copy                                         |
 * | present | present     | same      | skip        | skip if dest time > source time,    | ETags equal: skip; both single-part MD5s and |
 * |         |             |           |             | else copy                           | different: copy; else as default             |
 *
 * "extra" is deleted with --delete and left alone otherwise. A destination written after the source
 * last changed holds that content; a source changed since is sent again, and so is one with the
 * same time (S3's times are whole seconds: which came first cannot be told, and a copy costs less
 * than a missed change). ETags are compared only
 * where they can be: equal ETags mean equal bytes, but a multipart ETag depends on the part size,
 * so two different ones prove nothing (nor do SSE-KMS ones, which are not MD5s: --checksum would
 * copy those every time).
 */
export function decide(source: Entry | undefined, destination: Entry | undefined, compare: Compare): Decision {
  if (!source) return { action: 'extra' };
  if (!destination) return { action: 'copy', reason: 'missing' };
  if (source.size !== destination.size) return { action: 'copy', reason: 'size' };
  if (compare === 'size-only') return { action: 'skip' };
  if (compare === 'checksum' && source.etag && destination.etag) {
    if (source.etag === destination.etag) return { action: 'skip' };
    if (plainMd5(source.etag) && plainMd5(destination.etag)) return { action: 'copy', reason: 'checksum' };
  }
  // A side without a time (an inventory without dates) cannot prove the destination current.
  if (!source.time || !destination.time) return { action: 'copy', reason: 'newer' };
  return destination.time.getTime() > source.time.getTime() ? { action: 'skip' } : { action: 'copy', reason: 'newer' };
}

/**
 * Walks two listings sorted in S3's key order (UTF-8 bytes) side by side, yielding each key once
 * with its entry on either side (or both). Memory holds one entry of each: it does not grow with
 * the number of keys. A listing out of order would make keys look missing, so it is refused.
 */
export async function* mergeJoin(
  source: AsyncIterable<Entry>,
  destination: AsyncIterable<Entry>,
): AsyncGenerator<[Entry | undefined, Entry | undefined]> {
  const a = ordered(source, 'source');
  const b = ordered(destination, 'destination');
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compareKeys(x.value.key, y.value.key);
    if (order < 0) {
      yield [x.value as Entry, undefined];
      x = await a.next();
    } else if (order > 0) {
      yield [undefined, y.value as Entry];
      y = await b.next();
    } else {
      yield [x.value as Entry, y.value as Entry];
      x = await a.next();
      y = await b.next();
    }
  }
}

async function* ordered(entries: AsyncIterable<Entry>, side: string): AsyncGenerator<Entry> {
  let previous: string | undefined;
  for await (const e of entries) {
    if (previous !== undefined && compareKeys(previous, e.key) >= 0) {
      throw new ListingOrderError(`the ${side} listed "${e.key}" after "${previous}": not in S3's key order`);
    }
    previous = e.key;
    yield e;
  }
}
