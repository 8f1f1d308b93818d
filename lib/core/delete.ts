import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import type { Failure, ManifestResult } from './copy.ts';
import { JobStoreError } from './errors.ts';
import { jobKeys, loadAnyJob } from './job.ts';
import { getText, type JobStore } from './jobstore.ts';
import { LineBatches, parseManifest } from './manifest.ts';
import type { PlanState } from './plan.ts';
import { withRetry } from './retry.ts';

/** Keys deleted by one DeleteObjects request, and so one manifest of deletions. */
export const DELETE_BATCH = 1000;

/** What a sync finds besides the objects to copy, in every direction. */
export interface SyncCounts {
  /** Source objects already at the destination, unchanged. */
  skipped: number;
  /** Destination objects within the filters, those the source lacks, and the manifests of those to delete. */
  destinationObjects: number;
  extra: number;
  deleteManifests: number;
}

export const noSyncCounts = (): SyncCounts => ({ skipped: 0, destinationObjects: 0, extra: 0, deleteManifests: 0 });

/** Keys to delete, written to the job store one DeleteObjects request's worth at a time; `counts` numbers the manifests. */
export class DeleteBatches {
  readonly #batches: LineBatches;

  constructor(store: JobStore, jobId: string, counts: Pick<SyncCounts, 'deleteManifests'>) {
    this.#batches = new LineBatches(store, (n) => jobKeys.deletes(jobId, n), () => ++counts.deleteManifests, DELETE_BATCH);
  }

  add(key: string, size: number): Promise<void> {
    return this.#batches.add({ k: key, s: size });
  }

  flush(): Promise<void> {
    return this.#batches.flush();
  }
}

/** Where a sync's deletions stand, carried by the state machine between invocations. */
export interface DeleteState {
  readonly done: boolean;
  /** The next manifest of deletions (1-based). */
  readonly next: number;
  /** Why nothing was deleted, when that was decided. */
  readonly withheld?: string;
}

export interface DeleteInput {
  readonly jobId: string;
  readonly plan: PlanState;
  readonly deleted?: DeleteState | null;
}

/** One manifest of deletions, done. */
export interface DeleteResult {
  deleted: number;
  failed: number;
  failures: Failure[];
}

export interface DeleteDeps {
  readonly store: JobStore;
  readonly s3: (config: EndpointConfig) => S3Client;
  readonly remainingMs: () => number;
  readonly marginMs: number;
}

/**
 * Deletes the destination objects a sync (bucket to bucket, or a push) found the source without,
 * one DeleteObjects request per manifest, after every copy. Nothing is deleted when the planner refused (too large a share of
 * the destination) or when any copy failed or did not finish: a sync that could not bring the
 * destination up to date does not also take from it. Returns before its time runs out; a manifest
 * with a result is never sent again.
 */
export async function deleteExtra(input: DeleteInput, deps: DeleteDeps): Promise<DeleteState> {
  const job = await loadAnyJob(deps.store, input.jobId);
  if (job.kind === 'pull') throw new JobStoreError(`job ${job.jobId} writes to a directory: it has no bucket to delete from`);
  const total = input.plan.deleteManifests ?? 0;
  let next = input.deleted?.next ?? 1;
  if (next === 1) {
    const withheld = input.plan.deleteRefused ?? (await unfinishedCopies(deps.store, job.jobId, input.plan));
    if (withheld) return { done: true, next, withheld };
  }
  const client = deps.s3(job.destination);
  for (const first = next; next <= total; next++) {
    // At least one manifest per invocation, so even a tiny budget makes progress.
    if (next > first && deps.remainingMs() < deps.marginMs) return { done: false, next };
    const resultKey = jobKeys.deleted(job.jobId, next);
    if ((await deps.store.get(resultKey)) !== undefined) continue;
    const keys = parseManifest(await getText(deps.store, jobKeys.deletes(job.jobId, next)));
    const sizes = new Map(keys.map((k) => [job.destination.prefix + k.k, k.s]));
    // Quiet: only errors come back, so the answer stays small.
    const answer = await withRetry(() =>
      client.send(
        new DeleteObjectsCommand({
          Bucket: job.destination.bucket,
          Delete: { Objects: keys.map((k) => ({ Key: job.destination.prefix + k.k })), Quiet: true },
        }),
      ),
      () => {},
    );
    const failures: Failure[] = (answer.Errors ?? []).map((e) => ({
      key: (e.Key ?? '').slice(job.destination.prefix.length),
      size: sizes.get(e.Key ?? '') ?? 0,
      code: e.Code ?? 'DeleteFailed',
      message: `not deleted: ${e.Message ?? 'no message'}`,
    }));
    const result: DeleteResult = { deleted: keys.length - failures.length, failed: failures.length, failures };
    await deps.store.put(resultKey, JSON.stringify(result));
  }
  return { done: true, next };
}

/** Why deletions must wait: a copy failed or did not finish. */
export async function unfinishedCopies(store: JobStore, jobId: string, plan: PlanState): Promise<string | undefined> {
  let failed = 0;
  let unfinished = 0;
  for (let n = 1; n <= plan.manifests; n++) {
    const text = await store.get(jobKeys.result(jobId, jobKeys.manifest(jobId, n)));
    if (text === undefined) unfinished++;
    else failed += (JSON.parse(text) as ManifestResult).failed;
  }
  if (failed === 0 && unfinished === 0) return undefined;
  return `${failed} objects failed to copy and ${unfinished} manifests did not finish: nothing was deleted (run the sync again)`;
}

/** The deletion results of a job: totals and failures, and the manifests not done. */
export async function deleteTotals(store: JobStore, jobId: string, manifests: number) {
  const totals = { deleted: 0, failed: 0, notDone: 0, failures: [] as Failure[] };
  for (let n = 1; n <= manifests; n++) {
    const text = await store.get(jobKeys.deleted(jobId, n));
    if (text === undefined) {
      totals.notDone += parseManifest(await getText(store, jobKeys.deletes(jobId, n))).length;
      continue;
    }
    const r = JSON.parse(text) as DeleteResult;
    totals.deleted += r.deleted;
    totals.failed += r.failed;
    totals.failures.push(...r.failures);
  }
  return totals;
}
