import { randomBytes } from 'node:crypto';
import type { EndpointConfig } from './clients.ts';
import type { Compare } from './diff.ts';
import { JobStoreError } from './errors.ts';
import { getJson, type JobStore } from './jobstore.ts';
import type { S3Location } from './locations.ts';

export const MiB = 1024 * 1024;

/** One side of a job: where the objects are, and how to reach them. */
export interface JobSide extends S3Location, EndpointConfig {}

/** How objects are moved; every field has a default in `defaultTransferOptions`. */
export interface TransferOptions {
  /** Objects larger than this are copied in parts; 0 picks one (see `thresholdFor`). */
  readonly multipartThreshold: number;
  /** Part size; 0 picks one from the object's size (see `partSizeFor`). */
  readonly partSize: number;
  readonly storageClass?: string;
  /** `AES256` or `aws:kms`. */
  readonly sse?: string;
  readonly sseKmsKeyId?: string;
  /** A fixed number of concurrent requests, or 0 for adaptive. */
  readonly concurrency: number;
}

export interface CopyJob {
  readonly jobId: string;
  readonly kind: 'copy';
  readonly createdAt: string;
  readonly source: JobSide;
  readonly destination: JobSide;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly dryRun: boolean;
  readonly transfer: TransferOptions;
  /** Manifest bounds: at most this many entries, and at most this many bytes of objects. */
  readonly manifestMaxEntries: number;
  readonly manifestMaxBytes: number;
  /** A sync: only what differs is copied (see `decide`), and with `delete` what the source lacks is deleted. */
  readonly sync?: SyncOptions;
  /** A restore: the source as it was at an instant, archived objects thawed first (state-machines/restore.asl.json). */
  readonly restore?: RestoreOptions;
  /** The source listed from this S3 Inventory report (s3://.../manifest.json) instead of ListObjectsV2. */
  readonly inventory?: string;
}

export type ThawTier = 'Bulk' | 'Standard' | 'Expedited';

export interface RestoreOptions {
  /** The instant (ISO 8601) whose state is restored; absent: the current state. */
  readonly at?: string;
  readonly thawTier: ThawTier;
  /** How long S3 keeps a thawed copy readable. */
  readonly thawDays: number;
  /** Seconds between checks on thaws under way; 0: as the tier's expected wait suggests (see `checkInterval`). */
  readonly thawCheckSeconds: number;
}

/** A restore's defaults: Bulk (the cheapest), and thawed copies kept 7 days: room for the longest thaw (48 h) and a copy that takes days. */
export const DEFAULT_RESTORE: RestoreOptions = Object.freeze({ thawTier: 'Bulk', thawDays: 7, thawCheckSeconds: 0 });

/** A restore's copies are readable: STANDARD unless a class was asked for (some stores keep the source's on a copy). */
export function readableCopies(transfer: TransferOptions): TransferOptions {
  return transfer.storageClass ? transfer : { ...transfer, storageClass: 'STANDARD' };
}

export interface SyncOptions {
  readonly compare: Compare;
  /** Delete destination objects the source does not have (within the include/exclude filters). */
  readonly delete: boolean;
  /** Delete nothing when the deletions would exceed this share (percent) of the destination's objects... */
  readonly maxDeletePercent: number;
  /** ...unless forced. */
  readonly force: boolean;
}

/** Push a directory tree to S3 in one process (scan and upload overlap). */
export interface PushJob extends Omit<CopyJob, 'kind' | 'source'> {
  readonly kind: 'push';
  readonly source: { readonly kind: 'dir'; readonly path: string };
  readonly followSymlinks: boolean;
  /** Fleet mode: the SQS queue its manifests were sent to. */
  readonly queue?: string;
  /** A sync: files compared as `decide` says, and with `delete` objects the tree lacks deleted. */
  readonly sync?: SyncOptions;
}

/** Pull objects from S3 into a directory tree. */
export interface PullJob extends Omit<CopyJob, 'kind' | 'destination'> {
  readonly kind: 'pull';
  readonly destination: { readonly kind: 'dir'; readonly path: string };
  /** Fleet mode: the SQS queue its manifests were sent to. */
  readonly queue?: string;
}

export type Job = CopyJob | PushJob | PullJob;

export const defaultTransferOptions: TransferOptions = Object.freeze({
  multipartThreshold: 0,
  partSize: 0,
  concurrency: 0,
});

export const DEFAULT_MANIFEST_MAX_ENTRIES = 1000;
export const DEFAULT_MANIFEST_MAX_BYTES = 10 * 1024 * MiB;

/** Every ferry Lambda's memory: 1,769 MB is one full vCPU. */
export const FUNCTION_MEMORY_MB = 1769;

export function newJobId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export const jobKeys = {
  job: (jobId: string) => `${jobId}/job.json`,
  manifest: (jobId: string, n: number) => `${jobId}/manifests/${String(n).padStart(8, '0')}.jsonl`,
  index: (jobId: string) => `${jobId}/manifests/index.json`,
  plan: (jobId: string) => `${jobId}/plan.json`,
  checkpoint: (jobId: string, manifest: string) => `${jobId}/checkpoints/${manifestName(manifest)}.json`,
  result: (jobId: string, manifest: string) => `${jobId}/results/${manifestName(manifest)}.json`,
  scan: (jobId: string) => `${jobId}/scan.json`,
  mapResults: (jobId: string) => `${jobId}/map-results`,
  /** A sync's deletions: keys, and one result per manifest of them. */
  deletes: (jobId: string, n: number) => `${jobId}/deletes/${String(n).padStart(8, '0')}.jsonl`,
  deleted: (jobId: string, n: number) => `${jobId}/deleted/${String(n).padStart(8, '0')}.json`,
  report: (jobId: string) => `${jobId}/report.json`,
  /** The same report as a page to attach to a ticket. */
  html: (jobId: string) => `${jobId}/report.html`,
  failures: (jobId: string) => `${jobId}/failures.csv`,
  /** A restore's archived objects: their manifests, and what each manifest's thaw stands at. */
  thawManifest: (jobId: string, n: number) => `${jobId}/manifests/thaw-${String(n).padStart(8, '0')}.jsonl`,
  thawIndex: (jobId: string) => `${jobId}/manifests/thaw-index.json`,
  thaw: (jobId: string, manifest: string) => `${jobId}/thaw/${manifestName(manifest)}.json`,
  /** A restore's keys with no object at the instant (deleted then, or not yet written). */
  absent: (jobId: string, n: number) => `${jobId}/absent/${String(n).padStart(8, '0')}.jsonl`,
  /** A restore's per-object account: version, thawed, outcome. */
  objects: (jobId: string) => `${jobId}/objects.csv`,
  /** What `ferry verify` found different. */
  differences: (jobId: string) => `${jobId}/differences.csv`,
};

/** A manifest's name without its folder and extension, e.g. `00000012`. */
export function manifestName(manifest: string): string {
  return manifest.slice(manifest.lastIndexOf('/') + 1).replace(/\.jsonl$/, '');
}

export async function loadAnyJob(store: JobStore, jobId: string): Promise<Job> {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(jobId)) throw new JobStoreError(`invalid job id "${jobId}"`);
  const job = await getJson<Job>(store, jobKeys.job(jobId));
  if (job.jobId !== jobId) throw new JobStoreError(`job.json of ${jobId} names another job`);
  return Object.freeze(job);
}

export async function loadJob(store: JobStore, jobId: string): Promise<CopyJob> {
  const job = await loadAnyJob(store, jobId);
  if (job.kind !== 'copy') throw new JobStoreError(`job ${jobId} is not a copy job`);
  return job;
}

/**
 * The size above which an object goes in parts. Server-side copies stay whole up to 64 MiB (a
 * CopyObject costs the client nothing per byte); uploads and streamed copies go in parallel 8 MiB
 * parts above 8 MiB, which keeps many streams busy and fits stores with small request limits.
 */
export function thresholdFor(options: TransferOptions, serverSide: boolean): number {
  return options.multipartThreshold || (serverSide ? 64 * MiB : 8 * MiB);
}

/** Part size for an object: at least the minimum, and large enough that no object needs over 10,000 parts. */
export function partSizeFor(size: number, options: TransferOptions, serverSide: boolean): number {
  // Server-side part copies cost a request each and no local bandwidth: larger parts. Streamed parts
  // stay at 8 MiB so many run at once within bounded memory.
  const minimum = options.partSize || (serverSide ? 64 * MiB : 8 * MiB);
  const needed = Math.ceil(size / 10_000 / MiB) * MiB;
  return Math.max(minimum, needed, 5 * MiB);
}
