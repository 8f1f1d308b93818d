import type { S3Client } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import { countRetries, emptyResult, type ManifestResult, tally } from './copy.ts';
import { jobKeys, type PushJob } from './job.ts';
import type { JobStore } from './jobstore.ts';
import { LeanS3 } from './lean-s3.ts';
import { keyFilter } from './listing.ts';
import type { Pool } from './pool.ts';
import type { ProgressSink } from './progress.ts';
import { type Report, reportInProcessJob, type ScanResult } from './report.ts';
import { uploadFile } from './transfer.ts';
import { type WalkedFile, walkTree } from './walk.ts';

/** What a push or pull running in one process works with. */
export interface InProcessDeps {
  readonly store: JobStore;
  readonly s3: (config: EndpointConfig) => S3Client;
  readonly pool: Pool;
  readonly progress: ProgressSink & { planningDone: boolean };
}

/** Manifests being uploaded at once: enough to keep the pool busy, few enough to bound memory. */
const MANIFESTS_IN_FLIGHT = 4;
/** A slow walk still hands out work this often, so uploads start in the first second. */
const FLUSH_EVERY_MS = 1000;

/**
 * Pushes a directory tree to S3 from one process: the walk writes manifests to the job store as it
 * goes and each manifest is uploaded at once, through the one pool, while the walk continues.
 * Symlinks, fifos, sockets and devices are skipped and counted; names S3 cannot hold (not UTF-8,
 * keys over 1,024 bytes) and unreadable entries are reported as failed, never renamed.
 */
export async function push(job: PushJob, deps: InProcessDeps): Promise<Report> {
  const { store, progress } = deps;
  const wanted = keyFilter(job.include, job.exclude);
  const client = deps.s3(job.destination);
  const scan: ScanResult = { skipped: [], failed: [] };
  const inFlight = new Set<Promise<void>>();
  let manifests = 0;
  let objects = 0;
  let bytes = 0;
  let batch: WalkedFile[] = [];
  let batchBytes = 0;
  let lastFlush = Date.now();

  const flush = async () => {
    if (batch.length === 0) return;
    const files = batch;
    batch = [];
    batchBytes = 0;
    lastFlush = Date.now();
    manifests++;
    const manifest = jobKeys.manifest(job.jobId, manifests);
    await store.put(manifest, `${files.map((f) => JSON.stringify({ k: f.key, s: f.size, m: f.mtimeMs, p: f.mode })).join('\n')}\n`);
    if (job.dryRun) return;
    while (inFlight.size >= MANIFESTS_IN_FLIGHT) await Promise.race(inFlight);
    const task: Promise<void> = uploadManifest(job, manifest, files, client, deps).finally(() => inFlight.delete(task));
    inFlight.add(task);
  };

  for await (const item of walkTree(job.source.path, { followSymlinks: job.followSymlinks })) {
    if (item.kind === 'skip') {
      const key = item.path;
      if (item.reason === 'symlink' || item.reason === 'special' || item.reason === 'loop') {
        scan.skipped.push({ key, reason: item.reason, message: item.message });
        progress.object('skipped');
      } else {
        scan.failed.push({ key, size: 0, code: codeOf(item.reason), message: item.message });
        progress.object('failed');
      }
      continue;
    }
    if (!wanted(item.key)) continue;
    if (batch.length > 0 && batchBytes + item.size > job.manifestMaxBytes) await flush();
    batch.push(item);
    batchBytes += item.size;
    objects++;
    bytes += item.size;
    progress.planned(objects, bytes);
    if (batch.length >= job.manifestMaxEntries || Date.now() - lastFlush >= FLUSH_EVERY_MS) await flush();
  }
  await flush();
  progress.planningDone = true;
  await Promise.all(inFlight);

  return reportInProcessJob(store, job, { manifests, objects, bytes }, scan);
}

function codeOf(reason: string): string {
  return { 'invalid-name': 'InvalidName', 'key-too-long': 'KeyTooLong', unreadable: 'Unreadable' }[reason] ?? 'NotTransferable';
}

async function uploadManifest(job: PushJob, manifest: string, files: WalkedFile[], client: S3Client, deps: InProcessDeps): Promise<void> {
  const started = Date.now();
  // Written once, when every file has its outcome: a manifest of a push is never half-reported.
  const result: ManifestResult = { ...emptyResult(manifest, files.length), doneThrough: files.length };
  const ctx = {
    destination: { client, lean: await LeanS3.for(client), bucket: job.destination.bucket, prefix: job.destination.prefix },
    options: job.transfer,
    pool: deps.pool,
    onRetry: countRetries(result, deps.pool, deps.progress),
    onBytes: (n: number) => deps.progress.bytes(n),
  };
  const uploads: Promise<void>[] = [];
  for (const file of files) {
    await deps.pool.ready();
    uploads.push(tally(result, deps.progress, file.key, file.size, uploadFile(file, ctx)));
  }
  await Promise.all(uploads);
  result.durationMs = Date.now() - started;
  await deps.store.put(jobKeys.result(job.jobId, manifest), JSON.stringify(result));
}
