import type { S3Client } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import { jobKeys, loadJob } from './job.ts';
import type { JobStore } from './jobstore.ts';
import { keyFilter, listObjects } from './listing.ts';
import { type IndexItem, toLine } from './manifest.ts';
import type { ProgressSink } from './progress.ts';

/** The planner's state, carried by the state machine between invocations (small by design). */
export interface PlanState {
  readonly done: boolean;
  /** Every source key up to and including this one (relative) is in a manifest or filtered out. */
  readonly startAfter: string;
  readonly manifests: number;
  readonly objects: number;
  readonly bytes: number;
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
 */
export async function plan(input: PlanInput, deps: PlanDeps): Promise<PlanState> {
  const job = await loadJob(deps.store, input.jobId);
  const state = input.plan ?? { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
  if (state.done) {
    deps.progress.planned(state.objects, state.bytes);
    return state;
  }
  let { startAfter, manifests, objects, bytes } = state;
  const wanted = keyFilter(job.include, job.exclude);
  let lines: string[] = [];
  let manifestBytes = 0;
  let lastListed = startAfter;

  const flush = async () => {
    if (lines.length === 0) return;
    manifests++;
    await deps.store.put(jobKeys.manifest(job.jobId, manifests), `${lines.join('\n')}\n`);
    lines = [];
    manifestBytes = 0;
    startAfter = lastListed;
    deps.progress.planned(objects, bytes);
  };

  const client = deps.s3(job.source);
  let finished = true;
  for await (const o of listObjects(client, job.source.bucket, job.source.prefix, startAfter)) {
    if (wanted(o.key)) {
      if (lines.length > 0 && manifestBytes + o.size > job.manifestMaxBytes) await flush();
      lines.push(toLine(o));
      manifestBytes += o.size;
      objects++;
      bytes += o.size;
    }
    lastListed = o.key;
    if (lines.length >= job.manifestMaxEntries) await flush();
    if (deps.remainingMs() < deps.marginMs) {
      finished = false;
      break;
    }
  }
  await flush();
  startAfter = lastListed;
  if (!finished) return saved(deps.store, job.jobId, { done: false, startAfter, manifests, objects, bytes });

  const index: IndexItem[] = [];
  for (let n = 1; n <= manifests; n++) index.push({ manifest: jobKeys.manifest(job.jobId, n) });
  await deps.store.put(jobKeys.index(job.jobId), JSON.stringify(index));
  deps.progress.planned(objects, bytes);
  return saved(deps.store, job.jobId, {
    done: true,
    startAfter,
    manifests,
    objects,
    bytes,
    index: { Bucket: deps.store.bucket, Key: deps.store.locate(jobKeys.index(job.jobId)) },
    mapResults: { Bucket: deps.store.bucket, Prefix: deps.store.locate(jobKeys.mapResults(job.jobId)) },
  });
}

/** The plan state is also kept in the job store, so an interrupted job resumes where it was. */
async function saved(store: JobStore, jobId: string, state: PlanState): Promise<PlanState> {
  await store.put(jobKeys.plan(jobId), JSON.stringify(state));
  return state;
}
