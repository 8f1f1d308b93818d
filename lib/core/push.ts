import { stat } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import { countRetries, emptyResult, type ManifestResult, tally } from './copy.ts';
import { DeleteBatches, deleteExtra, noSyncCounts, type SyncCounts } from './delete.ts';
import { type Compare, decide, type Entry, entryOf, mergeJoin } from './diff.ts';
import type { ErrorInfo } from './errors.ts';
import { jobKeys, type PushJob } from './job.ts';
import { getText, type JobStore } from './jobstore.ts';
import { parseManifest } from './manifest.ts';
import { deleteRefusal } from './plan.ts';
import { compareKeys } from './keys.ts';
import { LeanS3 } from './lean-s3.ts';
import { keyFilter, type ListedObject, listObjects } from './listing.ts';
import { eachAtOnce, type Pool } from './pool.ts';
import type { ProgressSink } from './progress.ts';
import { type Report, reportInProcessJob, type ScanResult } from './report.ts';
import { type UploadEntry, uploadFile } from './transfer.ts';
import { walkTree } from './walk.ts';

/** What a push or pull works with, in one process or in a fleet worker. */
export interface ManifestDeps {
  readonly store: JobStore;
  readonly s3: (config: EndpointConfig) => S3Client;
  readonly pool: Pool;
  readonly progress: ProgressSink;
}

/** A push or pull running in one process also says when its walk or listing is over. */
export interface InProcessDeps extends ManifestDeps {
  readonly progress: ProgressSink & { planningDone: boolean };
  /** Turns true when the process is asked to stop (Ctrl-C, SIGTERM): nothing new is started. */
  readonly stop?: () => boolean;
}

/** What a walk or listing has turned into manifests so far. */
export interface Planned {
  manifests: number;
  objects: number;
  bytes: number;
}

/** One line of a push manifest: the file's key (its path below the root), size, mtime (ms) and mode. */
export interface PushLine {
  k: string;
  s: number;
  m: number;
  p: number;
}

/** Manifests being worked on at once in one process: enough to keep the pool busy, few enough to bound memory. */
export const MANIFESTS_IN_FLIGHT = 4;
/** A slow walk still hands out work this often, so uploads start in the first second. */
const FLUSH_EVERY_MS = 1000;

/**
 * Pushes a directory tree to S3 from one process: the walk writes manifests to the job store as it
 * goes and each manifest is uploaded at once, through the one pool, while the walk continues.
 */
export async function push(job: PushJob, deps: InProcessDeps): Promise<Report> {
  const scan: ScanResult = { skipped: [], failed: [] };
  const planned: Planned = { manifests: 0, objects: 0, bytes: 0 };
  const stop = deps.stop ?? (() => false);
  const client = deps.s3(job.destination);
  // The listing's retries slow the pool and show in the progress as any other request's do.
  const onListingRetry = countRetries({ retries: 0, throttles: 0 }, deps.pool, deps.progress);
  const walked = walkIntoManifests(job, deps.store, scan, planned, deps.progress);
  // Each manifest's listing of the destination starts as soon as the manifest is made, while the
  // manifests before it are still uploading.
  const manifests = (async function* () {
    for await (const m of walked) {
      const there = job.dryRun ? undefined : objectsAlreadyThere(client, job.destination.bucket, job.destination.prefix, m.lines, onListingRetry);
      there?.catch(() => {}); // its failure surfaces where it is awaited
      yield { ...m, there };
    }
  })();
  const sync = noSyncCounts();
  await eachAtOnce(manifests, MANIFESTS_IN_FLIGHT, stop, async ({ manifest, lines, there }) => {
    if (!job.dryRun) await uploadManifest(job, manifest, lines, deps, stop, job.source.path, there);
  });
  deps.progress.planningDone = true;
  if (!job.sync || stop()) return reportInProcessJob(deps.store, job, planned, scan);
  // A sync: what the destination holds that the tree does not, found once the walk is over.
  await findExtras(job, client, deps.store, planned, scan, sync, onListingRetry);
  if (job.dryRun) {
    for (let n = 1; n <= planned.manifests; n++) {
      const manifest = jobKeys.manifest(job.jobId, n);
      const lines = parseManifest(await getText(deps.store, manifest)) as unknown as PushLine[];
      await decideManifest(job, manifest, lines, client, deps.store, planned, sync, onListingRetry);
    }
  }
  const refused = deleteRefusal(job.sync, sync.extra, sync.destinationObjects);
  const totals = { ...planned, ...sync, ...(refused && { deleteRefused: refused }) };
  const deleted = job.sync.delete && !job.dryRun ? await deleteExtra({ jobId: job.jobId, plan: { done: true, startAfter: '', ...totals } }, { store: deps.store, s3: deps.s3, remainingMs: () => Infinity, marginMs: 0 }) : undefined;
  return reportInProcessJob(deps.store, job, totals, scan, deleted);
}

/**
 * A sync's dry run, once the extras are found: decides each file of a manifest against one listing
 * of its key range, as the upload would (with the walk's size and mtime), and rewrites the manifest
 * with only the files to copy, each with its reason; the rest are counted as skipped.
 */
async function decideManifest(
  job: PushJob,
  manifest: string,
  lines: readonly PushLine[],
  client: S3Client,
  store: JobStore,
  planned: Planned,
  sync: SyncCounts,
  onRetry: (info: ErrorInfo) => void,
): Promise<void> {
  const there = await objectsAlreadyThere(client, job.destination.bucket, job.destination.prefix, lines, onRetry);
  const copies: (PushLine & { r: string })[] = [];
  for (const line of lines) {
    const d = there.get(line.k);
    const decision = decide({ key: line.k, size: line.s, time: new Date(line.m) }, d && entryOf(d), job.sync?.compare ?? 'time');
    if (decision.action === 'copy') copies.push({ ...line, r: decision.reason });
    else {
      sync.skipped++;
      planned.objects--;
      planned.bytes -= line.s;
    }
  }
  await store.put(manifest, copies.length ? `${copies.map((l) => JSON.stringify(l)).join('\n')}\n` : '');
}

/**
 * The destination's objects (within the filters) that the walk did not find: the destination
 * listing merge-joined with the keys of every manifest and of what the walk passed over (symlinks,
 * unreadable entries: their objects are kept), all in key order, counted in `sync`. With delete,
 * they go into manifests of keys to delete. Memory holds one manifest and the walk's passed-over keys.
 */
async function findExtras(
  job: PushJob,
  client: S3Client,
  store: JobStore,
  planned: Planned,
  scan: ScanResult,
  sync: SyncCounts,
  onRetry: (info: ErrorInfo) => void,
): Promise<void> {
  const wanted = keyFilter(job.include, job.exclude);
  // scan.json names them by path: their keys are those paths below the root.
  const root = `${job.source.path}/`;
  const passedOver = [...scan.skipped, ...scan.failed]
    .filter((e) => e.key.startsWith(root))
    .map((e) => e.key.slice(root.length))
    .sort(compareKeys);
  async function* walked(): AsyncGenerator<Entry> {
    for (let n = 1; n <= planned.manifests; n++) {
      for (const line of parseManifest(await getText(store, jobKeys.manifest(job.jobId, n)))) yield { key: line.k, size: line.s };
    }
  }
  async function* passed(): AsyncGenerator<Entry> {
    for (const key of passedOver) yield { key, size: 0 };
  }
  async function* tree(): AsyncGenerator<Entry> {
    for await (const [a, b] of mergeJoin(walked(), passed())) yield (a ?? b)!;
  }
  const deletes = new DeleteBatches(store, job.jobId, sync);
  const destination = listObjects(client, job.destination.bucket, job.destination.prefix, '', { onRetry });
  for await (const [t, d] of mergeJoin(tree(), destination)) {
    if (!d || !wanted(d.key)) continue;
    sync.destinationObjects++;
    if (t) continue;
    sync.extra++;
    if (job.sync?.delete) await deletes.add(d.key, d.size);
  }
  await deletes.flush();
}

/**
 * Walks the tree and writes its manifests to the job store as it goes (bounded by entries and
 * bytes, and handed out at least every second), yielding each. Symlinks, fifos, sockets and devices
 * are recorded in `scan` as skipped; names S3 cannot hold (not UTF-8, keys over 1,024 bytes) and
 * unreadable entries as failed, never renamed.
 */
export async function* walkIntoManifests(
  job: PushJob,
  store: JobStore,
  scan: ScanResult,
  planned: Planned,
  progress: ProgressSink,
): AsyncGenerator<{ manifest: string; lines: PushLine[] }> {
  const wanted = keyFilter(job.include, job.exclude);
  let batch: PushLine[] = [];
  let batchBytes = 0;
  let lastFlush = Date.now();
  const flush = async () => {
    const lines = batch;
    batch = [];
    batchBytes = 0;
    lastFlush = Date.now();
    return saveManifest(store, job.jobId, planned, lines);
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
    if (batch.length > 0 && batchBytes + item.size > job.manifestMaxBytes) yield await flush();
    batch.push({ k: item.key, s: item.size, m: item.mtimeMs, p: item.mode });
    batchBytes += item.size;
    planned.objects++;
    planned.bytes += item.size;
    progress.planned(planned.objects, planned.bytes);
    if (batch.length >= job.manifestMaxEntries || Date.now() - lastFlush >= FLUSH_EVERY_MS) yield await flush();
  }
  if (batch.length > 0) yield await flush();
}

/** Writes the next manifest of a walk or listing to the job store (sorted JSONL) and counts it. */
export async function saveManifest<L>(store: JobStore, jobId: string, planned: Planned, lines: L[]): Promise<{ manifest: string; lines: L[] }> {
  planned.manifests++;
  const manifest = jobKeys.manifest(jobId, planned.manifests);
  await store.put(manifest, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return { manifest, lines };
}

/**
 * Ends a manifest once the outcomes of the `started` lines (its first ones) are in `result`: its
 * result when every line was started, else a checkpoint that says how far it got. True when done.
 */
export async function saveOutcome(
  store: JobStore,
  jobId: string,
  result: ManifestResult,
  started: number,
  startedAt: number,
): Promise<boolean> {
  result.doneThrough = started;
  result.durationMs = Date.now() - startedAt;
  const complete = started === result.entries;
  if (complete) result.finishedAt = Date.now();
  await store.put((complete ? jobKeys.result : jobKeys.checkpoint)(jobId, result.manifest), JSON.stringify(result));
  return complete;
}

function codeOf(reason: string): string {
  return { 'invalid-name': 'InvalidName', 'key-too-long': 'KeyTooLong', unreadable: 'Unreadable' }[reason] ?? 'NotTransferable';
}

/**
 * Uploads one manifest's files through the pool and writes its result once every file has its
 * outcome: a manifest is never half-reported. A file already at the destination with the same size,
 * written after the file last changed, is skipped (one listing per manifest, no request per file).
 * `listed` is that listing when it was started ahead. When `stop` turns true, no more files are
 * started; those in flight finish, a checkpoint (not a result) records them, and false is returned:
 * the manifest is to be done again.
 */
export async function uploadManifest(
  job: PushJob,
  manifest: string,
  lines: readonly PushLine[],
  deps: ManifestDeps,
  stop: () => boolean = () => false,
  root = job.source.path,
  listed?: Promise<Map<string, ListedObject>>,
): Promise<boolean> {
  const started = Date.now();
  const result: ManifestResult = emptyResult(manifest, lines.length);
  const client = deps.s3(job.destination);
  const onRetry = countRetries(result, deps.pool, deps.progress);
  const ctx = {
    destination: { client, lean: await LeanS3.for(client), bucket: job.destination.bucket, prefix: job.destination.prefix },
    options: job.transfer,
    pool: deps.pool,
    onRetry,
    onBytes: (n: number) => deps.progress.bytes(n),
  };
  const there = await (listed ?? objectsAlreadyThere(client, job.destination.bucket, job.destination.prefix, lines, onRetry));
  const uploads: Promise<void>[] = [];
  for (const line of lines) {
    if (stop()) break;
    await deps.pool.ready();
    const file: UploadEntry = { key: line.k, path: pathOf(root, line.k), size: line.s, mtimeMs: line.m, mode: line.p };
    uploads.push(tally(result, deps.progress, file.key, file.size, uploadUnlessThere(file, there.get(file.key), job.sync?.compare ?? 'time', ctx)));
  }
  await Promise.all(uploads);
  return saveOutcome(deps.store, job.jobId, result, uploads.length, started);
}

/** The file's path: its key's '/'-separated segments below the root. */
function pathOf(root: string, key: string): string {
  return `${root}/${key}`;
}

async function uploadUnlessThere(
  file: UploadEntry,
  there: ListedObject | undefined,
  compare: Compare,
  ctx: Parameters<typeof uploadFile>[1],
): Promise<void | 'skipped'> {
  if (there && (await unchangedSince(file, there, compare))) return 'skipped';
  return uploadFile(file, ctx);
}

/**
 * Whether the object at the destination holds the file as it is now, as `decide` judges it from
 * the file's size and mtime read now (not at the walk) and the listing: by default same size and
 * written after the file last changed (listings give no metadata, so the object's LastModified
 * stands in for the upload time); a file changed since is sent again.
 */
async function unchangedSince(file: UploadEntry, there: ListedObject, compare: Compare): Promise<boolean> {
  const now = await stat(file.path).catch(() => undefined);
  if (!now) return false;
  const decision = decide({ key: file.key, size: now.size, time: new Date(now.mtimeMs) }, entryOf(there), compare);
  return decision.action === 'skip';
}

/**
 * The destination's objects among a manifest's keys, from one listing of the manifest's key range
 * (the manifest is sorted): it starts just before the first key and stops after the last.
 */
export async function objectsAlreadyThere(
  client: S3Client,
  bucket: string,
  prefix: string,
  lines: readonly { k: string }[],
  onRetry: (info: ErrorInfo) => void,
): Promise<Map<string, ListedObject>> {
  const found = new Map<string, ListedObject>();
  const first = lines[0]?.k;
  const last = lines.at(-1)?.k;
  if (first === undefined || last === undefined) return found;
  const wanted = new Set(lines.map((l) => l.k));
  // Any key below the first will do as StartAfter: the first key less its last character.
  const before = Array.from(first).slice(0, -1).join('');
  for await (const o of listObjects(client, bucket, prefix, before, { onRetry })) {
    if (compareKeys(o.key, last) > 0) break;
    if (wanted.has(o.key)) found.set(o.key, o);
  }
  return found;
}
