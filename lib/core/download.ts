// A small object's download, shared by the main thread and the download workers (pull-worker.ts,
// which imports this and not pull.ts, so that a worker starts quickly).
import { hash, randomBytes } from 'node:crypto';
import { closeSync, futimesSync, openSync, renameSync, writeSync } from 'node:fs';
import { rename, rm, utimes, writeFile } from 'node:fs/promises';
import { IntegrityError } from './errors.ts';
import { plainMd5 } from './etag.ts';
import type { LeanGot, LeanS3 } from './lean-s3.ts';
import type { ListedObject } from './listing.ts';
import type { WholeDownload } from './pull-workers.ts';

/** Temporary names are unique to this process (workers on other hosts may share the volume). */
const TMP_TAG = randomBytes(4).toString('hex');
let tmpCount = 0;

/**
 * A small object fetched whole into memory, checked, then written: on the main thread or a download
 * worker. `direct` (a local file system) writes with synchronous calls: each returns in microseconds,
 * less than handing it to libuv's threadpool and waking the thread back costs (five times a file).
 */
export async function downloadWhole(lean: LeanS3, { bucket, key, entry, file, direct }: WholeDownload): Promise<void> {
  const tmp = tmpName(file);
  try {
    const whole = await lean.getObject({ Bucket: bucket, Key: key, IfMatch: entry.etag, VersionId: entry.versionId });
    const md5 = plainMd5(entry.etag) ? hash('md5', whole.Body, 'hex') : undefined;
    checkBytes(entry, whole, whole.Body.length, md5);
    const when = mtimeOf(whole);
    if (direct) {
      const fd = openSync(tmp, 'w');
      try {
        writeInPiecesSync(fd, whole.Body);
        futimesSync(fd, when, when);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    } else {
      await writeFile(tmp, whole.Body);
      await utimes(tmp, when, when);
      await rename(tmp, file);
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Bytes written to a file on a local file system 64 KiB at a time at most (the most undici hands
 * over at once). Linux's page cache takes a folio as large as the write (ext4 since 6.16, xfs): on
 * memory in use shortly before, every size from 32 KiB to 1 MiB cost about the same here (0.2-0.35 s
 * of system CPU a GiB), but on a VM whose hypervisor takes back freed memory a larger folio more
 * often lands on such memory, whose first touch costs ten times that (bench/write-size.ts).
 */
export function writeInPiecesSync(fd: number, data: Uint8Array): void {
  for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, Math.min(WRITE_PIECE, data.length - at));
}

const WRITE_PIECE = 64 * 1024;

export function tmpName(file: string): string {
  return `${file}.ferry-${TMP_TAG}-${++tmpCount}.tmp`;
}

/** The bytes read checked: their count, and their MD5 where a single-part ETag is one (not under SSE-KMS or SSE-C). */
export function checkBytes(entry: ListedObject, got: Pick<LeanGot, 'ServerSideEncryption' | 'SSECustomerAlgorithm'>, bytes: number, md5: string | undefined): void {
  if (bytes !== entry.size) throw new IntegrityError('SizeMismatch', `${entry.key}: got ${bytes} bytes, listed ${entry.size}`);
  const encrypted = got.ServerSideEncryption?.startsWith('aws:kms') || got.SSECustomerAlgorithm !== undefined;
  const etagMd5 = plainMd5(entry.etag);
  if (etagMd5 && md5 !== undefined && !encrypted && md5 !== etagMd5) {
    throw new IntegrityError('ChecksumMismatch', `${entry.key}: the bytes read do not match the ETag ${etagMd5}`);
  }
}

/** The file's mtime: the source file's, kept in metadata by a push, else the object's LastModified. */
export function mtimeOf(got: Pick<LeanGot, 'Metadata' | 'LastModified'>): Date {
  const mtime = Number(got.Metadata.mtime);
  return Number.isFinite(mtime) && mtime > 0 ? new Date(mtime * 1000) : (got.LastModified ?? new Date());
}
