// Thawing a restore's archived objects: RestoreObject for each one not yet readable, then checks
// until each is, without a Lambda waiting (the state machine's Wait state, or a loop locally).
import { HeadObjectCommand, RestoreObjectCommand, type S3Client, type Tier } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import type { Failure } from './copy.ts';
import { classify } from './errors.ts';
import { type CopyJob, jobKeys, loadAnyJob, type RestoreOptions, type ThawTier } from './job.ts';
import { getText, type JobStore } from './jobstore.ts';
import { type ManifestLine, parseManifest } from './manifest.ts';
import type { PlanState } from './plan.ts';
import { eachAtOnce } from './pool.ts';
import { withRetry } from './retry.ts';

/**
 * Storage classes whose objects may need a thaw before they can be read. Intelligent-Tiering
 * objects need one only in its archive tiers, which a listing does not show: a HEAD tells.
 */
export const ARCHIVE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE', 'INTELLIGENT_TIERING']);

export const isArchiveClass = (storageClass: string | undefined) => storageClass !== undefined && ARCHIVE_CLASSES.has(storageClass);

/**
 * What a thaw costs and how long it takes, per storage class and tier: US East (N. Virginia)
 * list prices, read 2026-11-21 from AWS's documentation ("Archive retrieval options": bulk is
 * free from Flexible Retrieval, bulk and standard free from Intelligent-Tiering) and AWS's
 * re:Post cost example (Flexible Retrieval: $0.01/GB and $0.05 per 1,000 requests standard, $0.03/GB and
 * $10 per 1,000 expedited). Deep Archive's per-request prices ($0.10 and $0.025 per 1,000)
 * could not be confirmed from a page here. Hours: the documented typical ranges.
 * A thawed copy is also billed as S3 Standard storage for its days (`STANDARD_GB_MONTH`).
 */
export const THAW_PRICES: Record<string, Partial<Record<ThawTier, { perGB: number; per1000: number; hours: [number, number] }>>> = {
  GLACIER: {
    Expedited: { perGB: 0.03, per1000: 10, hours: [1 / 60, 5 / 60] },
    Standard: { perGB: 0.01, per1000: 0.05, hours: [3, 5] },
    Bulk: { perGB: 0, per1000: 0, hours: [5, 12] },
  },
  DEEP_ARCHIVE: {
    Standard: { perGB: 0.02, per1000: 0.1, hours: [0, 12] },
    Bulk: { perGB: 0.0025, per1000: 0.025, hours: [0, 48] },
  },
  // The archive access tiers; the deep archive access tier takes as long as Deep Archive.
  INTELLIGENT_TIERING: {
    Expedited: { perGB: 0.03, per1000: 10, hours: [1 / 60, 5 / 60] },
    Standard: { perGB: 0, per1000: 0, hours: [3, 12] },
    Bulk: { perGB: 0, per1000: 0, hours: [5, 48] },
  },
};
export const STANDARD_GB_MONTH = 0.023;
export const PRICES_READ = '2026-11-21';

/** What a restore's plan found archived, per storage class. */
export type ArchivedCounts = Record<string, { objects: number; bytes: number }>;

export function countArchived(archived: ArchivedCounts, o: { readonly storageClass?: string; readonly size: number }): void {
  const counts = (archived[o.storageClass ?? 'STANDARD'] ??= { objects: 0, bytes: 0 });
  counts.objects++;
  counts.bytes += o.size;
}

export interface ThawEstimate {
  readonly storageClass: string;
  readonly objects: number;
  readonly bytes: number;
  /** Undefined when the tier is not offered for the class (Expedited from Deep Archive). */
  readonly hours?: [number, number];
  readonly dollars?: number;
}

/** The expected wait and cost of thawing what a plan found archived (Intelligent-Tiering priced as if all of it were archived). */
export function thawEstimate(archived: ArchivedCounts, restore: RestoreOptions): ThawEstimate[] {
  return Object.entries(archived).map(([storageClass, { objects, bytes }]) => {
    const price = THAW_PRICES[storageClass]?.[restore.thawTier];
    if (!price) return { storageClass, objects, bytes };
    const gb = bytes / 1024 ** 3;
    const dollars = gb * price.perGB + (objects / 1000) * price.per1000 + gb * STANDARD_GB_MONTH * (restore.thawDays / 30);
    return { storageClass, objects, bytes, hours: price.hours, dollars };
  });
}

/** Seconds between checks on thaws under way: about a tenth of the tier's shortest wait. */
export function checkInterval(restore: RestoreOptions): number {
  if (restore.thawCheckSeconds > 0) return restore.thawCheckSeconds;
  return { Expedited: 60, Standard: 900, Bulk: 3600 }[restore.thawTier];
}

/** One thaw manifest's state: what is readable, what is under way, what could not be thawed. */
export interface ThawRecord {
  /** Entry indexes still thawing. */
  pending: number[];
  /** Entry indexes whose thaw ferry requested. */
  requested: number[];
  /** Objects found readable without a request from ferry (thawed before, or not archived). */
  ready: number;
  /** Entry indexes that cannot be thawed, with why (copied as failed with this code). */
  failures: (Failure & { index: number })[];
}

/** Where the thaws stand, carried by the state machine between invocations. */
export interface ThawState {
  /** Every object is readable or failed: the thawed manifests can be copied. */
  readonly done: boolean;
  /** The pass is not finished (the time ran out): call again at once. */
  readonly more: boolean;
  /** The thaw manifest the current pass goes on with (1-based). */
  readonly next: number;
  /** Objects still thawing, counted over the pass so far. */
  readonly pending: number;
  readonly requested: number;
  /** Seconds to wait before the next pass (the Wait state's SecondsPath). */
  readonly waitSeconds: number;
  /** Passes made: the first requests the thaws, the others check on them. */
  readonly passes: number;
}

export interface ThawInput {
  readonly jobId: string;
  readonly plan: PlanState;
  readonly thaw?: ThawState | null;
}

export interface ThawDeps {
  readonly store: JobStore;
  readonly s3: (config: EndpointConfig) => S3Client;
  readonly remainingMs: () => number;
  readonly marginMs: number;
}

/** HEADs (and RestoreObjects) in flight at once. */
const THAW_CONCURRENCY = 32;

/**
 * One pass over the thaw manifests, or as much of it as the time allows: the first visit of a
 * manifest HEADs each object and requests a thaw for those archived and not thawed or thawing
 * already (so a rerun or a redelivery never asks twice); later passes HEAD only those still
 * thawing. A pass that ends with objects pending asks to be called again after `waitSeconds`.
 */
export async function thawPass(input: ThawInput, deps: ThawDeps): Promise<ThawState> {
  const job = (await loadAnyJob(deps.store, input.jobId)) as CopyJob;
  if (!job.restore) throw new Error(`job ${job.jobId} is not a restore`);
  const restore = job.restore;
  const total = input.plan.thawManifests ?? 0;
  const last = input.thaw;
  let state: ThawState = last?.more
    ? last
    : { done: false, more: true, next: 1, pending: 0, requested: last?.requested ?? 0, waitSeconds: checkInterval(restore), passes: (last?.passes ?? 0) + 1 };
  const client = deps.s3(job.source);
  for (const first = state.next; state.next <= total; ) {
    if (state.next > first && deps.remainingMs() < deps.marginMs) return state;
    const manifest = jobKeys.thawManifest(job.jobId, state.next);
    const entries = parseManifest(await getText(deps.store, manifest));
    const recordKey = jobKeys.thaw(job.jobId, manifest);
    const saved = await deps.store.get(recordKey);
    const record: ThawRecord = saved ? JSON.parse(saved) : { pending: entries.map((_, i) => i), requested: [], ready: 0, failures: [] };
    const before = record.requested.length;
    if (record.pending.length > 0) await checkEntries(job, restore, client, entries, record, !saved);
    await deps.store.put(recordKey, JSON.stringify(record));
    const requested = state.requested + record.requested.length - before;
    state = { ...state, next: state.next + 1, pending: state.pending + record.pending.length, requested };
  }
  return { ...state, more: false, done: state.pending === 0 };
}

/** What a HEAD of an archived object says: readable, thawing, or archived (needs a request). */
function thawStatus(head: { Restore?: string; StorageClass?: string; ArchiveStatus?: string }): 'ready' | 'thawing' | 'archived' {
  if (head.Restore?.includes('ongoing-request="false"')) return 'ready';
  if (head.Restore?.includes('ongoing-request="true"')) return 'thawing';
  if (head.ArchiveStatus || head.StorageClass === 'GLACIER' || head.StorageClass === 'DEEP_ARCHIVE') return 'archived';
  return 'ready';
}

async function checkEntries(job: CopyJob, restore: RestoreOptions, client: S3Client, entries: ManifestLine[], record: ThawRecord, firstVisit: boolean) {
  const stillPending: number[] = [];
  await eachAtOnce(record.pending, THAW_CONCURRENCY, () => false, async (index) => {
    const e = entries[index]!;
    const target = { Bucket: job.source.bucket, Key: job.source.prefix + e.k, VersionId: e.v };
    try {
      const head = await withRetry(() => client.send(new HeadObjectCommand(target)), () => {});
      const status = thawStatus(head);
      if (status === 'ready') record.ready++;
      else if (status === 'thawing') stillPending.push(index);
      else if (!firstVisit) {
        // Requested on an earlier pass and archived again (the thawed copy expired): ask again.
        await requestThaw(client, target, restore, head.ArchiveStatus !== undefined);
        stillPending.push(index);
      } else {
        const answer = await requestThaw(client, target, restore, head.ArchiveStatus !== undefined);
        if (answer === 'ready') record.ready++;
        else {
          if (answer === 'requested') record.requested.push(index);
          stillPending.push(index);
        }
      }
    } catch (err) {
      const { code, message } = classify(err);
      record.failures.push({ index, key: e.k, size: e.s, code, message: `not thawed: ${message}` });
    }
  });
  record.pending = stillPending.sort((a, b) => a - b);
}

/** RestoreObject; S3's answers for one thawing or thawed already are not failures. */
async function requestThaw(
  client: S3Client,
  target: { Bucket: string; Key: string; VersionId?: string },
  restore: RestoreOptions,
  intelligentTiering: boolean,
): Promise<'requested' | 'thawing' | 'ready'> {
  try {
    const out = await withRetry(
      () =>
        client.send(
          new RestoreObjectCommand({
            ...target,
            // Intelligent-Tiering's archive tiers take no Days: the object moves back to its frequent tier.
            RestoreRequest: { ...(!intelligentTiering && { Days: restore.thawDays }), GlacierJobParameters: { Tier: restore.thawTier as Tier } },
          }),
        ),
      () => {},
    );
    // 200 rather than 202: a thawed copy exists (its days are extended).
    return out.$metadata.httpStatusCode === 200 ? 'ready' : 'requested';
  } catch (err) {
    const { code } = classify(err);
    if (code === 'RestoreAlreadyInProgress') return 'thawing';
    if (code === 'ObjectAlreadyInActiveTierError') return 'ready';
    throw err;
  }
}

/** A thaw manifest's record; undefined before its first visit. */
export async function thawRecord(store: JobStore, jobId: string, manifest: string): Promise<ThawRecord | undefined> {
  const saved = await store.get(jobKeys.thaw(jobId, manifest));
  return saved === undefined ? undefined : (JSON.parse(saved) as ThawRecord);
}

/** Entry indexes of a thaw manifest that could not be thawed, with why. */
export async function thawFailures(store: JobStore, jobId: string, manifest: string): Promise<Map<number, Failure>> {
  const record = await thawRecord(store, jobId, manifest);
  return new Map((record?.failures ?? []).map(({ index, ...f }) => [index, f]));
}
