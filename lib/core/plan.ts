import type { S3Client } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import { decide, type Entry, mergeJoin } from './diff.ts';
import { type CopyJob, jobKeys, loadJob } from './job.ts';
import type { JobStore } from './jobstore.ts';
import { keyFilter, type ListedObject, listObjects } from './listing.ts';
import { type IndexItem, toLine } from './manifest.ts';
import type { ProgressSink } from './progress.ts';

/** The planner's state, carried by the state machine between invocations (small by design). */
export interface PlanState {
  readonly done: boolean;
  /** Every source key up to and including this one (relative) is in a manifest or filtered out. */
  readonly startAfter: string;
  readonly manifests: number;
  /** Objects (and their bytes) to copy. */
  readonly objects: number;
  readonly bytes: number;
  /** A sync: source objects already at the destination, unchanged. */
  readonly skipped?: number;
  /** A sync: destination objects in scope, those the source lacks, and the manifests of those to delete. */
  readonly destinationObjects?: number;
  readonly extra?: number;
  readonly deleteManifests?: number;
  /** Why the deletions were refused (too large a share of the destination without --force). */
  readonly deleteRefused?: string;
  /** Where the manifest index is, once done: the Distributed Map's ItemReader reads it. */
  readonly index?: { readonly Bucket: string; readonly Key: string };
  /** Where the Distributed Map writes its own results. */
  readonly mapResults?: { readonly Bucket: string; readonly Prefix: string };
}

export interface PlanInput {
  readonly jobId: string;
  readonly plan?: PlanState;
}

export interface PlanDeps {
  readonly store: JobStore;
  readonly s3: (config: EndpointConfig) => S3Client;
  /** Milliseconds left before this invocation must return. */
  readonly remainingMs: () => number;
  /** Stop this long before the time runs out. */
  readonly marginMs: number;
  readonly progress: ProgressSink;
}

/**
 * Streams the source listing into sorted manifests of at most N entries and M bytes, and returns
 * before its time runs out with a cursor, so a listing of any size finishes over several
 * invocations. Memory holds one listing page and one manifest. Rewriting a manifest after a retry
 * is harmless: the same cursor lists the same keys into the same manifest name.
 *
 * A sync lists the destination beside the source and merge-joins the two: manifests hold only
 * what differs, skipped objects are counted, and (with delete) the keys the source lacks go into
 * manifests of their own, deleted after the copies only if they stay within the allowed share.
 */
export async function plan(input: PlanInput, deps: PlanDeps): Promise<PlanState> {
  const job = await loadJob(deps.store, input.jobId);
  const state = input.plan ?? { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
  if (state.done) {
    deps.progress.planned(state.objects + (state.skipped ?? 0), state.bytes);
    return state;
  }
  let { startAfter, manifests, objects, bytes } = state;
  let { skipped = 0, destinationObjects = 0, extra = 0, deleteManifests = 0 } = state;
  const wanted = keyFilter(job.include, job.exclude);
  let lines: string[] = [];
  let manifestBytes = 0;
  let deletes: string[] = [];
  let lastListed = startAfter;

  const flush = async () => {
    if (lines.length === 0) return;
    manifests++;
    await deps.store.put(jobKeys.manifest(job.jobId, manifests), `${lines.join('\n')}\n`);
    lines = [];
    manifestBytes = 0;
    deps.progress.planned(objects + skipped, bytes);
  };
  const flushDeletes = async () => {
    if (deletes.length === 0) return;
    deleteManifests++;
    await deps.store.put(jobKeys.deletes(job.jobId, deleteManifests), `${deletes.join('\n')}\n`);
    deletes = [];
  };

  let finished = true;
  for await (const [o, d] of pairs(job, deps, startAfter)) {
    const key = (o ?? d)!.key;
    if (wanted(key)) {
      if (d) destinationObjects++;
      const decision = job.sync ? decide(o && entry(o), d && entry(d), job.sync.compare) : ({ action: 'copy' } as const);
      if (decision.action === 'copy' && o) {
        if (lines.length > 0 && manifestBytes + o.size > job.manifestMaxBytes) await flush();
        lines.push(toLine(o, 'reason' in decision ? decision.reason : undefined));
        manifestBytes += o.size;
        objects++;
        bytes += o.size;
      } else if (decision.action === 'skip') {
        skipped++;
        deps.progress.object('skipped');
      } else if (decision.action === 'extra' && d) {
        extra++;
        if (job.sync?.delete) deletes.push(JSON.stringify({ k: d.key, s: d.size }));
      }
    }
    lastListed = key;
    if (lines.length >= job.manifestMaxEntries) await flush();
    if (deletes.length >= DELETE_BATCH) await flushDeletes();
    if (deps.remainingMs() < deps.marginMs) {
      finished = false;
      break;
    }
  }
  // Everything up to the cursor is in a manifest before the cursor is saved.
  await flush();
  await flushDeletes();
  startAfter = lastListed;
  const sync = job.sync ? { skipped, destinationObjects, extra, deleteManifests } : {};
  if (!finished) return saved(deps.store, job.jobId, { done: false, startAfter, manifests, objects, bytes, ...sync });

  const index: IndexItem[] = [];
  for (let n = 1; n <= manifests; n++) index.push({ manifest: jobKeys.manifest(job.jobId, n) });
  await deps.store.put(jobKeys.index(job.jobId), JSON.stringify(index));
  deps.progress.planned(objects + skipped, bytes);
  const refused = job.sync && deleteRefusal(job, extra, destinationObjects);
  return saved(deps.store, job.jobId, {
    done: true,
    startAfter,
    manifests,
    objects,
    bytes,
    ...sync,
    ...(refused && { deleteRefused: refused }),
    index: { Bucket: deps.store.bucket, Key: deps.store.locate(jobKeys.index(job.jobId)) },
    mapResults: { Bucket: deps.store.bucket, Prefix: deps.store.locate(jobKeys.mapResults(job.jobId)) },
  });
}

/** The execution input of state-machines/copy.asl.json (`copyError` is set by a Catch, `deleted` by the Delete state). */
export function startInput(job: CopyJob, resumeFrom?: PlanState) {
  const start: PlanState = resumeFrom ?? { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
  return { jobId: job.jobId, dryRun: job.dryRun, plan: start, copyError: null, deleted: null };
}

/** Keys deleted by one DeleteObjects request, and so one manifest of deletions. */
export const DELETE_BATCH = 1000;

/**
 * The source listing alone (a copy), or the source and destination listings merge-joined (a sync),
 * each resuming after the cursor.
 */
async function* pairs(job: CopyJob, deps: PlanDeps, startAfter: string): AsyncGenerator<[ListedObject | undefined, ListedObject | undefined]> {
  const source = listObjects(deps.s3(job.source), job.source.bucket, job.source.prefix, startAfter);
  if (!job.sync) {
    for await (const o of source) yield [o, undefined];
    return;
  }
  const destination = listObjects(deps.s3(job.destination), job.destination.bucket, job.destination.prefix, startAfter);
  yield* mergeJoin(source, destination) as AsyncGenerator<[ListedObject | undefined, ListedObject | undefined]>;
}

/** A listed object as the truth table sees it: on either side, its time is its LastModified. */
function entry(o: ListedObject): Entry {
  return { key: o.key, size: o.size, etag: o.etag, time: o.lastModified };
}

/** Why a sync's deletions must not run: more of the destination than allowed, without --force. */
export function deleteRefusal(job: CopyJob, extra: number, destinationObjects: number): string | undefined {
  const sync = job.sync;
  if (!sync?.delete || sync.force || extra === 0) return undefined;
  if (extra * 100 <= sync.maxDeletePercent * destinationObjects) return undefined;
  const share = ((extra * 100) / destinationObjects).toFixed(1);
  return `deleting ${extra} of the destination's ${destinationObjects} objects (${share}%) is more than --max-delete ${sync.maxDeletePercent}%: nothing was deleted (--force deletes them)`;
}

/** The plan state is also kept in the job store, so an interrupted job resumes where it was. */
async function saved(store: JobStore, jobId: string, state: PlanState): Promise<PlanState> {
  await store.put(jobKeys.plan(jobId), JSON.stringify(state));
  return state;
}
