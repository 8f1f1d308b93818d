import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { countRetries, emptyResult, type ManifestResult, tally } from './copy.ts';
import { type LeanGot, LeanS3 } from './lean-s3.ts';
import { IntegrityError } from './transfer.ts';
import { jobKeys, type PullJob } from './job.ts';
import { keyFilter, type ListedObject, listObjects } from './listing.ts';
import { type Report, reportInProcessJob, type ScanResult } from './report.ts';
import type { InProcessDeps } from './push.ts';
import { withRetry } from './retry.ts';

const MANIFESTS_IN_FLIGHT = 4;

/** Why a key cannot become a file under the destination directory, or undefined when it can. */
export function unsafeKey(key: string): string | undefined {
  if (key.startsWith('/')) return 'the key is an absolute path';
  const segments = key.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return 'the key has a . or .. segment, which would leave or alias the directory';
  if (segments.slice(0, -1).some((s) => s === '')) return 'the key has an empty segment (//), which would alias another key';
  if (key.includes('\0')) return 'the key has a NUL character';
  return undefined;
}

/**
 * Pulls every object under the source prefix into a directory: the listing streams into manifests
 * and each is downloaded at once through the one pool. Each file is written to a temporary name
 * and renamed when complete and checked, so no half-written file ever carries a real name; its
 * mtime comes from the `mtime` metadata ferry's push writes, else from LastModified. Keys ending in
 * '/' become directories; keys that would leave the directory (absolute, `..`) or alias another
 * (`.`, `//`) are refused and reported, as are keys colliding with a file or directory (`a` and `a/b`).
 */
export async function pull(job: PullJob, deps: InProcessDeps): Promise<Report> {
  const { store, progress } = deps;
  const root = job.destination.path;
  const wanted = keyFilter(job.include, job.exclude);
  const client = deps.s3(job.source);
  const scan: ScanResult = { skipped: [], failed: [] };
  const inFlight = new Set<Promise<void>>();
  const made = new Set<string>();
  let manifests = 0;
  let objects = 0;
  let bytes = 0;
  let batch: ListedObject[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const entries = batch;
    batch = [];
    manifests++;
    const manifest = jobKeys.manifest(job.jobId, manifests);
    await store.put(manifest, `${entries.map((e) => JSON.stringify({ k: e.key, s: e.size, e: e.etag })).join('\n')}\n`);
    if (job.dryRun) return;
    while (inFlight.size >= MANIFESTS_IN_FLIGHT) await Promise.race(inFlight);
    const task: Promise<void> = pullManifest(job, manifest, entries, client, made, deps).finally(() => inFlight.delete(task));
    inFlight.add(task);
  };

  for await (const o of listObjects(client, job.source.bucket, job.source.prefix)) {
    if (!wanted(o.key)) continue;
    const unsafe = unsafeKey(o.key);
    if (unsafe) {
      scan.failed.push({ key: o.key, size: o.size, code: 'UnsafeKey', message: unsafe });
      progress.object('failed');
      continue;
    }
    if (o.key.endsWith('/')) {
      // A folder marker: the directory is made, there is no file to write.
      if (!job.dryRun) await mkdir(path.join(root, o.key), { recursive: true });
      scan.skipped.push({ key: o.key, reason: 'folder-marker', message: 'made as a directory' });
      progress.object('skipped');
      continue;
    }
    batch.push(o);
    objects++;
    bytes += o.size;
    progress.planned(objects, bytes);
    if (batch.length >= job.manifestMaxEntries) await flush();
  }
  await flush();
  progress.planningDone = true;
  await Promise.all(inFlight);

  return reportInProcessJob(store, job, { manifests, objects, bytes }, scan);
}

async function pullManifest(job: PullJob, manifest: string, entries: ListedObject[], client: S3Client, made: Set<string>, deps: InProcessDeps) {
  const started = Date.now();
  const result: ManifestResult = { ...emptyResult(manifest, entries.length), doneThrough: entries.length };
  const onRetry = countRetries(result, deps.pool, deps.progress);
  const leanPath = await LeanS3.for(client);
  const lean = leanPath?.handles(job.source.bucket) ? leanPath : undefined;
  const downloads: Promise<void>[] = [];
  for (const entry of entries) {
    await deps.pool.ready();
    const file = path.join(job.destination.path, entry.key);
    const work = withRetry(() => deps.pool.run(() => download(job, entry, file, client, lean, made)), onRetry).then(() =>
      deps.progress.bytes(entry.size),
    );
    downloads.push(tally(result, deps.progress, entry.key, entry.size, work.catch(collision(entry.key))));
  }
  await Promise.all(downloads);
  result.durationMs = Date.now() - started;
  await deps.store.put(jobKeys.result(job.jobId, manifest), JSON.stringify(result));
}

/** `a` and `a/b` cannot both exist on a filesystem: the second to arrive is reported. */
function collision(key: string) {
  return (err: NodeJS.ErrnoException): never => {
    if (err.code === 'EEXIST' || err.code === 'ENOTDIR' || err.code === 'EISDIR') {
      throw new IntegrityError('PathCollision', `${key} collides with another key (a file where a directory is, or the reverse)`);
    }
    throw err;
  };
}

/** Objects up to this size are fetched whole on the lean path; larger ones are streamed to disk. */
const SMALL_OBJECT = 1024 * 1024;

async function download(job: PullJob, entry: ListedObject, file: string, client: S3Client, lean: LeanS3 | undefined, made: Set<string>): Promise<void> {
  const dir = path.dirname(file);
  if (!made.has(dir)) {
    await mkdir(dir, { recursive: true });
    made.add(dir);
  }
  const request = { Bucket: job.source.bucket, Key: job.source.prefix + entry.key, IfMatch: entry.etag };
  const tmp = `${file}.ferry-${randomBytes(4).toString('hex')}.tmp`;
  try {
    let got: Pick<LeanGot, 'Metadata' | 'LastModified' | 'ServerSideEncryption' | 'SSECustomerAlgorithm'>;
    const hash = createHash('md5');
    let bytes = 0;
    if (lean && entry.size <= SMALL_OBJECT) {
      const whole = await lean.getObject(request);
      hash.update(whole.Body);
      bytes = whole.Body.length;
      await writeFile(tmp, whole.Body);
      got = whole;
    } else {
      // Streamed to disk (memory does not grow with the object), counted and hashed on the way.
      const streamed = await client.send(new GetObjectCommand(request));
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(streamed.Body as Readable, count, createWriteStream(tmp));
      got = { ...streamed, Metadata: streamed.Metadata ?? {} };
    }
    if (bytes !== entry.size) throw new IntegrityError('SizeMismatch', `${entry.key}: got ${bytes} bytes, listed ${entry.size}`);
    // A single-part ETag is the MD5 of the bytes, except under SSE-KMS or SSE-C.
    const etag = entry.etag?.replaceAll('"', '');
    const encrypted = got.ServerSideEncryption?.startsWith('aws:kms') || got.SSECustomerAlgorithm !== undefined;
    if (!encrypted && etag && /^[0-9a-f]{32}$/.test(etag) && etag !== hash.digest('hex')) {
      throw new IntegrityError('ChecksumMismatch', `${entry.key}: the bytes read do not match the ETag ${etag}`);
    }
    const mtime = Number(got.Metadata.mtime);
    const when = Number.isFinite(mtime) && mtime > 0 ? new Date(mtime * 1000) : (got.LastModified ?? new Date());
    await utimes(tmp, when, when);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
