import type { S3Client } from '@aws-sdk/client-s3';
import { type EndpointConfig, s3Endpoint, sameService } from './clients.ts';
import type { ErrorInfo } from './errors.ts';
import type { SlowObject } from './html-report.ts';
import { type CopyJob, jobKeys, loadJob } from './job.ts';
import { LeanS3 } from './lean-s3.ts';
import { getJson, getText, type JobStore } from './jobstore.ts';
import { parseManifest } from './manifest.ts';
import type { Pool } from './pool.ts';
import type { ProgressSink } from './progress.ts';
import { thawFailures } from './thaw.ts';
import { failureOf, type TransferContext, transferObject } from './transfer.ts';

export interface CopyInput {
  readonly jobId: string;
  /** Job-store key of the manifest. */
  readonly manifest: string;
  /** Set by the state machine's Catch: record the manifest's unfinished objects as failed. */
  readonly error?: { readonly Error?: string; readonly Cause?: string };
}

export interface CopyOutput {
  readonly jobId: string;
  readonly manifest: string;
  readonly done: boolean;
}

export interface Failure {
  key: string;
  size: number;
  code: string;
  message: string;
}

/** What one manifest's copy did: its result object, and (while unfinished) its checkpoint. */
export interface ManifestResult {
  manifest: string;
  entries: number;
  /** Entries [0, doneThrough) are finished, and so is every index in `doneAbove`. */
  doneThrough: number;
  doneAbove: number[];
  copied: number;
  /** Objects found already at the destination, unchanged (push). Absent in results of older jobs. */
  skipped?: number;
  failed: number;
  bytesCopied: number;
  retries: number;
  throttles: number;
  failures: Failure[];
  /** Milliseconds spent in copier invocations on this manifest. */
  durationMs: number;
  /** When the manifest was finished (ms since the epoch): report.html's chart. Absent in older results. */
  finishedAt?: number;
  /** Its slowest objects (most 5), start to end, pool waits included. */
  slowest?: SlowObject[];
}

/** Objects a manifest keeps in its list of slowest. */
const SLOWEST_KEPT = 5;

export interface CopyDeps {
  readonly store: JobStore;
  readonly s3: (config: EndpointConfig) => S3Client;
  readonly pool: Pool;
  readonly remainingMs: () => number;
  /** Stop taking new objects this long before the time runs out. */
  readonly marginMs: number;
  readonly progress: ProgressSink;
}

/**
 * Copies one manifest's objects through the shared pool. Before its time runs out it stops taking
 * new objects, lets those in flight finish, saves a checkpoint and returns `done: false`; the state
 * machine calls it again and it carries on from the checkpoint. Redelivery is harmless: a copy
 * rewrites the same bytes, and finished entries are never redone.
 */
export async function copyManifest(input: CopyInput, deps: CopyDeps): Promise<CopyOutput> {
  const startedAt = Date.now();
  const job = await loadJob(deps.store, input.jobId);
  const entries = parseManifest(await getText(deps.store, input.manifest));
  const resultKey = jobKeys.result(job.jobId, input.manifest);
  const checkpointKey = jobKeys.checkpoint(job.jobId, input.manifest);
  if ((await deps.store.get(resultKey)) !== undefined) return { jobId: job.jobId, manifest: input.manifest, done: true };
  const state: ManifestResult = (await deps.store.get(checkpointKey))
    ? await getJson<ManifestResult>(deps.store, checkpointKey)
    : emptyResult(input.manifest, entries.length);
  const finished = new Set(state.doneAbove);
  const isDone = (i: number) => i < state.doneThrough || finished.has(i);
  const markDone = (i: number) => {
    finished.add(i);
    while (finished.has(state.doneThrough)) finished.delete(state.doneThrough++);
  };

  if (input.error) {
    // The manifest could not be finished (retries exhausted): every unfinished object is failed.
    const code = input.error.Error || 'ManifestFailed';
    const message = causeMessage(input.error.Cause);
    entries.forEach((e, i) => {
      if (isDone(i)) return;
      state.failed++;
      state.failures.push({ key: e.k, size: e.s, code, message });
      deps.progress.object('failed');
      markDone(i);
    });
  } else {
    const ctx = await transferContext(job, deps, state);
    // A restore's archived objects that could not be thawed are failed with why, not tried.
    const unthawed = job.restore ? await thawFailures(deps.store, job.jobId, input.manifest) : new Map<number, Failure>();
    const inFlight = new Set<Promise<void>>();
    let started = 0;
    for (let i = 0; i < entries.length; i++) {
      if (isDone(i)) continue;
      const unthawable = unthawed.get(i);
      if (unthawable) {
        state.failed++;
        state.failures.push(unthawable);
        deps.progress.object('failed');
        markDone(i);
        continue;
      }
      // At least one object per invocation, so even a tiny budget makes progress.
      if (started++ > 0 && deps.remainingMs() < deps.marginMs) break;
      await deps.pool.ready();
      const entry = entries[i] as (typeof entries)[number];
      const task = tally(state, deps.progress, entry.k, entry.s, transferObject({ key: entry.k, size: entry.s, etag: entry.e, versionId: entry.v }, ctx));
      const tracked: Promise<void> = task.then(() => {
        markDone(i);
        inFlight.delete(tracked);
      });
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
  }

  state.doneAbove = [...finished].sort((a, b) => a - b);
  state.durationMs += Date.now() - startedAt;
  const done = state.doneThrough >= entries.length;
  if (done) state.finishedAt = Date.now();
  await deps.store.put(done ? resultKey : checkpointKey, JSON.stringify(state));
  return { jobId: job.jobId, manifest: input.manifest, done };
}

async function transferContext(job: CopyJob, deps: CopyDeps, state: ManifestResult): Promise<TransferContext> {
  const destination = deps.s3(job.destination);
  return {
    source: { client: deps.s3(job.source), bucket: job.source.bucket, prefix: job.source.prefix },
    destination: { client: destination, lean: await LeanS3.for(destination), bucket: job.destination.bucket, prefix: job.destination.prefix },
    serverSide: sameService(job.source, job.destination),
    compatibleStore: s3Endpoint(job.source) !== undefined,
    options: job.transfer,
    pool: deps.pool,
    onRetry: countRetries(state, deps.pool, deps.progress),
    onBytes: (n) => deps.progress.bytes(n),
  };
}

/** A manifest's result before any of its objects is done. */
export function emptyResult(manifest: string, entries: number): ManifestResult {
  return {
    manifest,
    entries,
    doneThrough: 0,
    doneAbove: [],
    copied: 0,
    skipped: 0,
    failed: 0,
    bytesCopied: 0,
    retries: 0,
    throttles: 0,
    failures: [],
    durationMs: 0,
  };
}

/**
 * Counts one object's outcome in its manifest's result: copied with its bytes, skipped (the work
 * resolved to 'skipped'), or failed with why.
 */
export function tally(
  state: Pick<ManifestResult, 'copied' | 'skipped' | 'bytesCopied' | 'failed' | 'failures' | 'slowest'>,
  progress: ProgressSink,
  key: string,
  size: number,
  work: Promise<void | 'skipped'>,
): Promise<void> {
  const started = Date.now();
  return work.then(
    (outcome) => {
      if (outcome === 'skipped') {
        state.skipped = (state.skipped ?? 0) + 1;
        progress.object('skipped');
        return;
      }
      state.copied++;
      state.bytesCopied += size;
      progress.object('copied');
      const ms = Date.now() - started;
      const slowest = (state.slowest ??= []);
      if (slowest.length < SLOWEST_KEPT || ms > slowest.at(-1)!.ms) {
        slowest.push({ key, size, ms });
        slowest.sort((a, b) => b.ms - a.ms);
        slowest.length = Math.min(slowest.length, SLOWEST_KEPT);
      }
    },
    (err: unknown) => {
      state.failed++;
      state.failures.push({ key, size, ...failureOf(err) });
      progress.object('failed');
    },
  );
}

/** Counts a manifest's retries and throttles, and slows the pool on throttles and resets. */
export function countRetries(state: Pick<ManifestResult, 'retries' | 'throttles'>, pool: Pool, progress: ProgressSink) {
  return (info: ErrorInfo): void => {
    state.retries++;
    if (info.throttle) state.throttles++;
    if (info.throttle || info.code === 'ECONNRESET') pool.noteThrottle();
    progress.retry(info);
  };
}

// Step Functions' Cause is often the JSON of a Lambda error: keep its message.
function causeMessage(cause: string | undefined): string {
  if (!cause) return 'the manifest could not be copied';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}
