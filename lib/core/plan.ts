import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { EndpointConfig } from './clients.ts';
import { DeleteBatches, type SyncCounts } from './delete.ts';
import { decide, entryOf, mergeJoin } from './diff.ts';
import { type CopyJob, jobKeys, loadJob, type SyncOptions } from './job.ts';
import type { JobStore } from './jobstore.ts';
import { compareKeys } from './keys.ts';
import { inventoryListing, RUN_ROWS, sortInventory } from './inventory.ts';
import { keyFilter, type ListedObject, listObjects } from './listing.ts';
import { eachAtOnce } from './pool.ts';
import { withRetry } from './retry.ts';
import { type IndexItem, LineBatches, toLine } from './manifest.ts';
import { type ArchivedCounts, countArchived, isArchiveClass } from './thaw.ts';
import { type KeyAt, keysAt } from './versions.ts';
import type { ProgressSink } from './progress.ts';

/** The planner's state, carried by the state machine between invocations (small by design). */
export interface PlanState {
  readonly done: boolean;
  /**
   * Plans listed as one range: every source key up to and including this one (relative) is in a
   * manifest or filtered out. Plans listed in several ranges keep their cursors in `ranges`.
   */
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
  /** A restore: manifests of archived objects (thawed before they are copied), and those objects per storage class. */
  readonly thawManifests?: number;
  readonly archived?: ArchivedCounts;
  /** A restore at an instant: keys with no object then (deleted, or not yet written), and the batches listing them. */
  readonly absent?: { deleted: number; later: number };
  readonly absentBatches?: number;
  /** The key ranges being listed, each with its cursor (absent in plans from before ranges). */
  readonly ranges?: readonly KeyRange[];
  /** Where the manifest index is, once done: the Distributed Map's ItemReader reads it. */
  readonly index?: { readonly Bucket: string; readonly Key: string };
  /** A restore: where the thaw manifests' index is, once done (the second Distributed Map reads it). */
  readonly thawIndex?: { readonly Bucket: string; readonly Key: string };
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
 * invocations. Memory holds one listing page and one manifest per key range being listed.
 * Rewriting a manifest after a retry is harmless: the saved state is the one before the retried
 * invocation, whose manifests are all written again.
 *
 * A source of more than one listing page is split into key ranges at its prefixes (see
 * `splitKeySpace`), listed several at a time, so that millions of keys do not list one page after
 * another on one stream.
 *
 * A sync lists the destination beside the source and merge-joins the two, range by range:
 * manifests hold only what differs, skipped objects are counted, and (with delete) the keys the
 * source lacks go into manifests of their own, deleted after the copies only if they stay within
 * the allowed share.
 */
export async function plan(input: PlanInput, deps: PlanDeps): Promise<PlanState> {
  const job = await loadJob(deps.store, input.jobId);
  const state = input.plan ?? { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
  if (state.done) {
    deps.progress.planned(state.objects + (state.skipped ?? 0), state.bytes);
    return state;
  }
  const totals: Totals = {
    manifests: state.manifests,
    objects: state.objects,
    bytes: state.bytes,
    skipped: state.skipped ?? 0,
    destinationObjects: state.destinationObjects ?? 0,
    extra: state.extra ?? 0,
    deleteManifests: state.deleteManifests ?? 0,
    thawManifests: state.thawManifests ?? 0,
    archived: { ...state.archived },
    absent: { deleted: 0, later: 0, ...state.absent },
    absentBatches: state.absentBatches ?? 0,
  };
  // An inventory is sorted into runs first (over as many invocations as that takes), then merged as one range.
  if (job.inventory) {
    const timeLeft = () => deps.remainingMs() >= deps.marginMs;
    const runRows = Number(process.env.FERRY_INVENTORY_RUN_ROWS) || RUN_ROWS;
    const sorted = await sortInventory({ ...job, inventory: job.inventory }, deps.store, deps.s3(job.source), timeLeft, runRows);
    if (!sorted.done) return saved(deps.store, job.jobId, state);
  }
  // A plan state from before ranges carries one cursor: it goes on as one range.
  const ranges =
    state.ranges ?? (state.startAfter === '' && !job.inventory ? await splitKeySpace(job, deps) : [{ after: state.startAfter, done: false }]);
  const planned = await eachRange(ranges, LIST_CONCURRENCY, deps, (range) => planRange(job, range, totals, deps));
  const { skipped, destinationObjects, extra, deleteManifests, manifests, objects, bytes, thawManifests, archived, absent, absentBatches } = totals;
  const sync = job.sync ? { skipped, destinationObjects, extra, deleteManifests } : {};
  const restore = job.restore ? { thawManifests, archived, ...(job.restore.at && { absent, absentBatches }) } : {};
  const startAfter = planned.length === 1 ? planned[0]!.after : '';
  if (!planned.every((r) => r.done)) return saved(deps.store, job.jobId, { done: false, startAfter, manifests, objects, bytes, ...sync, ...restore, ranges: planned });

  const index: IndexItem[] = [];
  for (let n = 1; n <= manifests; n++) index.push({ manifest: jobKeys.manifest(job.jobId, n) });
  await deps.store.put(jobKeys.index(job.jobId), JSON.stringify(index));
  const thawIndex: IndexItem[] = [];
  for (let n = 1; n <= thawManifests; n++) thawIndex.push({ manifest: jobKeys.thawManifest(job.jobId, n) });
  if (job.restore) await deps.store.put(jobKeys.thawIndex(job.jobId), JSON.stringify(thawIndex));
  deps.progress.planned(objects + skipped, bytes);
  const refused = deleteRefusal(job.sync, extra, destinationObjects);
  return saved(deps.store, job.jobId, {
    done: true,
    startAfter,
    manifests,
    objects,
    bytes,
    ...sync,
    ...restore,
    ...(refused && { deleteRefused: refused }),
    ranges: planned,
    index: { Bucket: deps.store.bucket, Key: deps.store.locate(jobKeys.index(job.jobId)) },
    ...(job.restore && { thawIndex: { Bucket: deps.store.bucket, Key: deps.store.locate(jobKeys.thawIndex(job.jobId)) } }),
    mapResults: { Bucket: deps.store.bucket, Prefix: deps.store.locate(jobKeys.mapResults(job.jobId)) },
  });
}

/** Keys (relative to the source prefix) after `after`, up to and including `through` (the last range has none). */
export interface KeyRange {
  readonly after: string;
  readonly through?: string;
  readonly done: boolean;
}

/** What the ranges' listers count together (one thread: no two of them update it at once). */
interface Totals extends SyncCounts {
  manifests: number;
  objects: number;
  bytes: number;
  thawManifests: number;
  archived: ArchivedCounts;
  absent: { deleted: number; later: number };
  absentBatches: number;
}

/** Key ranges listed at once by one planner. */
const LIST_CONCURRENCY = 8;
/** At most this many ranges. */
const MAX_RANGES = 32;

/**
 * Lists one key range into manifests until it is done or the time is up; returns where it stands.
 * Everything up to the returned cursor is in a written manifest.
 */
async function planRange(job: CopyJob, range: KeyRange, totals: Totals, deps: PlanDeps): Promise<KeyRange> {
  const wanted = keyFilter(job.include, job.exclude);
  const ready = new ManifestWriter(deps.store, job.manifestMaxEntries, job.manifestMaxBytes, (n) => jobKeys.manifest(job.jobId, n), () => ++totals.manifests);
  // A restore's archived objects go into manifests of their own, copied once thawed.
  const archived = new ManifestWriter(deps.store, job.manifestMaxEntries, job.manifestMaxBytes, (n) => jobKeys.thawManifest(job.jobId, n), () => ++totals.thawManifests);
  const deletes = new DeleteBatches(deps.store, job.jobId, totals);
  const absent = new AbsentKeys(deps.store, job.jobId, totals);
  let lastListed = range.after;

  let done = true;
  for await (const item of sourceItems(job, deps, range.after)) {
    const key = 'state' in item ? item.key : (item[0] ?? item[1])!.key;
    if (range.through !== undefined && compareKeys(key, range.through) > 0) break;
    if (!wanted(key)) {
      // filtered out
    } else if ('state' in item) {
      await absent.add(item);
    } else {
      const [o, d] = item;
      if (d) totals.destinationObjects++;
      const decision = job.sync ? decide(o && entryOf(o), d && entryOf(d), job.sync.compare) : ({ action: 'copy' } as const);
      if (decision.action === 'copy' && o) {
        const toThaw = job.restore !== undefined && isArchiveClass(o.storageClass);
        await (toThaw ? archived : ready).add(o, 'reason' in decision ? decision.reason : undefined);
        if (toThaw) countArchived(totals.archived, o);
        totals.objects++;
        totals.bytes += o.size;
        deps.progress.planned(totals.objects + totals.skipped, totals.bytes);
      } else if (decision.action === 'skip') {
        totals.skipped++;
        deps.progress.object('skipped');
      } else if (decision.action === 'extra' && d) {
        totals.extra++;
        if (job.sync?.delete) await deletes.add(d.key, d.size);
      }
    }
    lastListed = key;
    if (deps.remainingMs() < deps.marginMs) {
      done = false;
      break;
    }
  }
  // Everything up to the cursor is in a manifest before the cursor is saved.
  await ready.flush();
  await archived.flush();
  await deletes.flush();
  await absent.flush();
  return { after: lastListed, ...(range.through !== undefined && { through: range.through }), done };
}

/**
 * A restore's keys with no object at its instant (deleted then, or written later): counted, and
 * listed 1,000 to a batch for the report's objects.csv.
 */
export class AbsentKeys {
  readonly #batches: LineBatches;
  readonly #counts: { absent?: { deleted: number; later: number }; absentBatches?: number };

  constructor(store: JobStore, jobId: string, counts: { absent?: { deleted: number; later: number }; absentBatches?: number }) {
    this.#counts = counts;
    this.#batches = new LineBatches(store, (n) => jobKeys.absent(jobId, n), () => (counts.absentBatches = (counts.absentBatches ?? 0) + 1), 1000);
  }

  add(k: Exclude<KeyAt, { state: 'present' }>): Promise<void> {
    (this.#counts.absent ??= { deleted: 0, later: 0 })[k.state]++;
    return this.#batches.add(k.state === 'deleted' ? { k: k.key, why: 'deleted', v: k.versionId } : { k: k.key, why: 'later' });
  }

  flush(): Promise<void> {
    return this.#batches.flush();
  }
}

/** Manifest lines, written out at N entries or M bytes of objects, each manifest numbered by `next`. */
export class ManifestWriter {
  #lines: string[] = [];
  #bytes = 0;
  readonly store: JobStore;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly keyOf: (n: number) => string;
  readonly next: () => number;

  constructor(store: JobStore, maxEntries: number, maxBytes: number, keyOf: (n: number) => string, next: () => number) {
    this.store = store;
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.keyOf = keyOf;
    this.next = next;
  }

  async add(o: ListedObject, reason?: string): Promise<void> {
    if (this.#lines.length > 0 && this.#bytes + o.size > this.maxBytes) await this.flush();
    this.#lines.push(toLine(o, reason));
    this.#bytes += o.size;
    if (this.#lines.length >= this.maxEntries) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#lines.length === 0) return;
    const text = `${this.#lines.join('\n')}\n`;
    this.#lines = [];
    this.#bytes = 0;
    await this.store.put(this.keyOf(this.next()), text);
  }
}

/**
 * Plans the ranges not yet done, `concurrency` at a time; once the time is up no further range is
 * started (each started one lists at least one key, so every invocation makes progress).
 */
async function eachRange(
  ranges: readonly KeyRange[],
  concurrency: number,
  deps: PlanDeps,
  work: (range: KeyRange) => Promise<KeyRange>,
): Promise<KeyRange[]> {
  const out = [...ranges];
  const pending = out.flatMap((r, i) => (r.done ? [] : [i]));
  let started = 0;
  const timeUp = () => started >= concurrency && deps.remainingMs() < deps.marginMs;
  await eachAtOnce(pending, concurrency, timeUp, async (i) => {
    started++;
    out[i] = await work(out[i]!);
  });
  return out;
}

/**
 * Splits a source of more than one listing page into key ranges: at its prefixes, the first level
 * with two or more (descending through a single one, up to 4 levels); in a flat key space (no
 * prefixes), at sampled keys: the first key after each printable ASCII character, and after each
 * following the first page's common stem. Up to 32 ranges of about as many points each. Any key is
 * a valid split point however the keys are spread; a space that yields none stays one range.
 */
export async function splitKeySpace(job: CopyJob, deps: PlanDeps): Promise<KeyRange[]> {
  const client = deps.s3(job.source);
  const { bucket, prefix } = job.source;
  const probe = await withRetry(() => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined })), () => {});
  if (!probe.IsTruncated) return [{ after: '', done: false }];
  let points = await prefixPoints(client, bucket, prefix);
  if (points.length < 2) {
    const firstPage = (probe.Contents ?? []).map((o) => (o.Key ?? '').slice(prefix.length));
    points = await sampledPoints(client, bucket, prefix, firstPage);
  }
  if (points.length === 0) return [{ after: '', done: false }];
  const n = Math.min(MAX_RANGES, points.length + 1);
  const chosen = [...new Set(Array.from({ length: n - 1 }, (_, i) => points[Math.floor(((i + 1) * points.length) / n)]!))];
  return [
    { after: '', through: chosen[0], done: false },
    ...chosen.map((p, i) => ({ after: p, ...(chosen[i + 1] !== undefined && { through: chosen[i + 1] }), done: false })),
  ];
}

/** The prefixes of the first level that has two or more, in key order; none in a flat key space. */
async function prefixPoints(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  let base = '';
  for (let depth = 0; depth < 4; depth++) {
    const found = await childPrefixes(client, bucket, prefix, base);
    if (found.length !== 1) return found;
    base = found[0]!;
  }
  return [];
}

/** Characters probed for split points: printable ASCII, in key order. */
const PROBES = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));

/**
 * Split points of a flat key space: the first key after each probe character, at the top and
 * after the stem the first page's keys share (keys like `log-2026-...` all start alike). One
 * one-key listing a probe, 8 at a time.
 */
async function sampledPoints(client: S3Client, bucket: string, prefix: string, firstPage: string[]): Promise<string[]> {
  const first = firstPage[0] ?? '';
  const last = firstPage.at(-1) ?? '';
  let stem = 0;
  while (stem < first.length && first[stem] === last[stem]) stem++;
  const starts = [...new Set(['', first.slice(0, stem)])].flatMap((s) => PROBES.map((c) => s + c));
  const found = new Set<string>();
  await eachAtOnce(starts, LIST_CONCURRENCY, () => false, async (after) => {
    const page = await withRetry(
      () => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, StartAfter: prefix + after, MaxKeys: 1 })),
      () => {},
    );
    const key = page.Contents?.[0]?.Key;
    if (key !== undefined) found.add(key.slice(prefix.length));
  });
  return [...found].sort(compareKeys);
}

/** The prefixes one level below `base` (relative keys), from at most 10 pages of a delimited listing. */
async function childPrefixes(client: S3Client, bucket: string, prefix: string, base: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 10; page++) {
    const listed = await withRetry(
      () => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix + base, Delimiter: '/', ContinuationToken: token })),
      () => {},
    );
    for (const p of listed.CommonPrefixes ?? []) if (p.Prefix) found.push(p.Prefix.slice(prefix.length));
    token = listed.IsTruncated ? listed.NextContinuationToken : undefined;
    if (!token) break;
  }
  return found;
}

/** The execution input of state-machines/copy.asl.json, or restore.asl.json for a restore (`copyError` is set by a Catch, `deleted` by the Delete state, `thaw` by the Thaw states). */
export function startInput(job: CopyJob, resumeFrom?: PlanState) {
  const start: PlanState = resumeFrom ?? { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
  const restore = job.restore ? { thaw: null } : {};
  return { jobId: job.jobId, dryRun: job.dryRun, plan: start, copyError: null, deleted: null, ...restore };
}

/**
 * The source listing alone (a copy), the source and destination listings merge-joined (a sync),
 * or each key as it was at a restore's instant; each resuming after the cursor.
 */
async function* sourceItems(
  job: CopyJob,
  deps: PlanDeps,
  startAfter: string,
): AsyncGenerator<[ListedObject | undefined, ListedObject | undefined] | Exclude<KeyAt, { state: 'present' }>> {
  const client = deps.s3(job.source);
  if (job.restore?.at) {
    for await (const k of keysAt(client, job.source.bucket, job.source.prefix, new Date(job.restore.at), startAfter)) {
      yield k.state === 'present' ? [k.object, undefined] : k;
    }
    return;
  }
  const source = job.inventory ? inventoryListing(deps.store, job.jobId, startAfter) : listObjects(client, job.source.bucket, job.source.prefix, startAfter);
  if (!job.sync) {
    for await (const o of source) yield [o, undefined];
    return;
  }
  const destination = listObjects(deps.s3(job.destination), job.destination.bucket, job.destination.prefix, startAfter);
  yield* mergeJoin(source, destination) as AsyncGenerator<[ListedObject | undefined, ListedObject | undefined]>;
}

/** Why a sync's deletions must not run: more of the destination than allowed, without --force. */
export function deleteRefusal(sync: SyncOptions | undefined, extra: number, destinationObjects: number): string | undefined {
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
