import type { Failure, ManifestResult } from './copy.ts';
import { type DeleteState, deleteTotals } from './delete.ts';
import { type Job, jobKeys, loadAnyJob } from './job.ts';
import { getJson, getText, type JobStore } from './jobstore.ts';
import { type Finished, renderHtmlReport, type SlowObject } from './html-report.ts';
import { formatS3 } from './locations.ts';
import { type IndexItem, parseManifest } from './manifest.ts';
import type { PlanState } from './plan.ts';
import { thawRecord } from './thaw.ts';

export interface ReportInput {
  readonly jobId: string;
  readonly plan: PlanState;
  readonly dryRun?: boolean;
  /** Why the Distributed Map itself failed, if it did (its Catch). */
  readonly copyError?: { readonly Error?: string; readonly Cause?: string } | null;
  /** A sync's deletions, when it had any to do. */
  readonly deleted?: DeleteState | null;
}

/** report.json: what the job did, and what it did not do. */
export interface Report {
  jobId: string;
  status: 'succeeded' | 'failed' | 'dry-run';
  source: string;
  destination: string;
  objects: { total: number; copied: number; skipped: number; failed: number };
  bytes: { total: number; copied: number };
  retries: number;
  throttles: number;
  manifests: number;
  failuresByCode: Record<string, number>;
  /** A sync: objects at the destination that the source does not have (within the filters). */
  destinationOnly?: number;
  /** A sync with --delete: those of them deleted, failed, and why none were, if so. */
  deletes?: { planned: number; deleted: number; failed: number; withheld?: string };
  /** A restore: the instant, the archived objects (thaws ferry requested, and those that failed), keys with no object then. */
  restore?: { at?: string; archived: number; thawRequested: number; thawFailed: number; absent?: { deleted: number; later: number }; objectsKey: string };
  /** Set when the copy stage as a whole failed: its error and cause. */
  error?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Job-store keys of the report, of the failures CSV and of the report as a page. */
  reportKey: string;
  failuresKey: string;
  htmlKey: string;
}

/**
 * Aggregates one result per manifest into report.json and failures.csv. A manifest without a
 * result (its child execution failed beyond the Catch) counts its unfinished objects as failed
 * with code NotCopied: the report never claims what was not done.
 */
export async function report(input: ReportInput, deps: { store: JobStore; now?: () => Date }): Promise<Report> {
  const { store } = deps;
  const job = await loadAnyJob(store, input.jobId);
  const finishedAt = (deps.now ?? (() => new Date()))();
  const totals = { copied: 0, skipped: 0, failed: 0, bytesCopied: 0, retries: 0, throttles: 0 };
  const failuresByCode: Record<string, number> = {};
  const csv: string[] = ['key,size,error_code,message'];
  const addFailure = (f: Failure) => {
    failuresByCode[f.code] = (failuresByCode[f.code] ?? 0) + 1;
    csv.push([f.key, String(f.size), f.code, f.message].map(csvField).join(','));
  };

  // What a directory walk passed over (push): skipped with a reason, or failed (not transferable).
  const scan = await store.get(jobKeys.scan(job.jobId));
  let skipped = 0;
  let scanFailed = 0;
  if (scan) {
    const walked = JSON.parse(scan) as ScanResult;
    skipped = walked.skipped.length;
    scanFailed = walked.failed.length;
    for (const f of walked.failed) {
      totals.failed++;
      addFailure(f);
    }
  }

  const restored = job.restore ? new RestoreAccount() : undefined;
  // For report.html: when each manifest finished, and the slowest objects.
  const finished: Finished[] = [];
  let slowest: SlowObject[] = [];
  if (!input.dryRun) {
    const index = input.plan.done ? await getJson<IndexItem[]>(store, jobKeys.index(job.jobId)) : [];
    if (input.plan.done && input.plan.thawIndex) index.push(...(await getJson<IndexItem[]>(store, jobKeys.thawIndex(job.jobId))));
    for (const { manifest } of index) {
      const result =
        (await store.get(jobKeys.result(job.jobId, manifest))) ?? (await store.get(jobKeys.checkpoint(job.jobId, manifest)));
      const r: ManifestResult | undefined = result ? JSON.parse(result) : undefined;
      await restored?.add(store, job.jobId, manifest, r);
      if (r?.finishedAt) finished.push({ at: r.finishedAt, objects: r.copied, bytes: r.bytesCopied });
      if (r?.slowest) slowest = [...slowest, ...r.slowest].sort((a, b) => b.ms - a.ms).slice(0, 20);
      totals.copied += r?.copied ?? 0;
      totals.skipped += r?.skipped ?? 0;
      totals.failed += r?.failed ?? 0;
      totals.bytesCopied += r?.bytesCopied ?? 0;
      totals.retries += r?.retries ?? 0;
      totals.throttles += r?.throttles ?? 0;
      for (const f of r?.failures ?? []) addFailure(f);
      if (r && r.doneThrough >= r.entries) continue;
      const done = new Set(r?.doneAbove ?? []);
      const entries = parseManifest((await store.get(manifest)) ?? '');
      entries.forEach((e, i) => {
        if (i < (r?.doneThrough ?? 0) || done.has(i)) return;
        totals.failed++;
        addFailure({ key: e.k, size: e.s, code: 'NotCopied', message: 'its manifest did not finish' });
      });
    }
  }

  // A sync's skips are decided by the planner; its deletions come after the copies.
  const planSkipped = input.plan.skipped ?? 0;
  let deletes: Report['deletes'];
  if (job.sync?.delete) {
    const d = input.dryRun ? { deleted: 0, failed: 0, notDone: 0, failures: [] } : await deleteTotals(store, job.jobId, input.plan.deleteManifests ?? 0);
    for (const f of d.failures) addFailure(f);
    const withheld = input.plan.deleteRefused ?? input.deleted?.withheld;
    deletes = { planned: input.plan.extra ?? 0, deleted: d.deleted, failed: d.failed + d.notDone, ...(withheld && { withheld }) };
  }
  const deletesFailed = !input.dryRun && deletes !== undefined && (deletes.failed > 0 || deletes.withheld !== undefined);

  const out: Report = {
    jobId: job.jobId,
    status: input.dryRun ? 'dry-run' : totals.failed > 0 || deletesFailed ? 'failed' : 'succeeded',
    source: describeSource(job),
    destination: job.destination.kind === 'dir' ? job.destination.path : formatS3(job.destination),
    objects: {
      total: input.plan.objects + planSkipped + skipped + scanFailed,
      copied: totals.copied,
      skipped: planSkipped + skipped + totals.skipped,
      failed: totals.failed,
    },
    bytes: { total: input.plan.bytes, copied: totals.bytesCopied },
    retries: totals.retries,
    throttles: totals.throttles,
    manifests: input.plan.manifests,
    failuresByCode,
    ...(input.plan.extra !== undefined && { destinationOnly: input.plan.extra }),
    ...(deletes && { deletes }),
    ...(restored && {
      restore: {
        ...(job.restore?.at && { at: job.restore.at }),
        archived: Object.values(input.plan.archived ?? {}).reduce((n, c) => n + c.objects, 0),
        thawRequested: restored.thawRequested,
        thawFailed: restored.thawFailed,
        ...(input.plan.absent && { absent: input.plan.absent }),
        objectsKey: jobKeys.objects(job.jobId),
      },
    }),
    ...(input.copyError && { error: `${input.copyError.Error ?? 'Error'}: ${input.copyError.Cause ?? ''}`.trim() }),
    startedAt: job.createdAt,
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - Date.parse(job.createdAt),
    reportKey: jobKeys.report(job.jobId),
    failuresKey: jobKeys.failures(job.jobId),
    htmlKey: jobKeys.html(job.jobId),
  };
  if (restored) await store.put(jobKeys.objects(job.jobId), await restored.csv(store, job.jobId, input.plan.absentBatches ?? 0));
  await store.put(out.failuresKey, `${csv.join('\n')}\n`);
  await store.put(out.htmlKey, renderHtmlReport(out, finished, slowest));
  await store.put(out.reportKey, `${JSON.stringify(out, null, 2)}\n`);
  return out;
}

/**
 * Ends a job that ran in one process (push, pull): writes what its walk or listing planned, as the
 * state-machine flow would have, then the report from the manifests' results.
 */
export async function reportInProcessJob(
  store: JobStore,
  job: { jobId: string; dryRun: boolean },
  totals: PlanTotals,
  scan: ScanResult,
  deleted?: DeleteState,
): Promise<Report> {
  const plan = await finishPlanning(store, job.jobId, totals, scan);
  return report({ jobId: job.jobId, plan, dryRun: job.dryRun, deleted }, { store });
}

/** What a walk or listing planned: manifests, objects and bytes, and for a sync what it found. */
export type PlanTotals = Omit<PlanState, 'done' | 'startAfter' | 'ranges' | 'index' | 'mapResults' | 'thawIndex'>;

/** Records a finished walk or listing: the manifest index, scan.json, and the plan, marked done. */
export async function finishPlanning(store: JobStore, jobId: string, totals: PlanTotals, scan: ScanResult): Promise<PlanState> {
  const index = Array.from({ length: totals.manifests }, (_, i) => ({ manifest: jobKeys.manifest(jobId, i + 1) }));
  await store.put(jobKeys.index(jobId), JSON.stringify(index));
  await store.put(jobKeys.scan(jobId), JSON.stringify(scan));
  let thawIndex: PlanState['thawIndex'];
  if (totals.thawManifests !== undefined) {
    const items = Array.from({ length: totals.thawManifests }, (_, i) => ({ manifest: jobKeys.thawManifest(jobId, i + 1) }));
    await store.put(jobKeys.thawIndex(jobId), JSON.stringify(items));
    thawIndex = { Bucket: store.bucket, Key: store.locate(jobKeys.thawIndex(jobId)) };
  }
  const plan: PlanState = { done: true, startAfter: '', ...totals, ...(thawIndex && { thawIndex }) };
  await store.put(jobKeys.plan(jobId), JSON.stringify(plan));
  return plan;
}

/** scan.json: what the walk of a directory did not turn into manifest entries. */
export interface ScanResult {
  skipped: { key: string; reason: string; message: string }[];
  failed: Failure[];
}

function describeSource(job: Job): string {
  return job.source.kind === 'dir' ? job.source.path : formatS3(job.source);
}

/** RFC 4180: quote fields holding a comma, quote or line break; double the quotes. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * A restore's account of every object: the version restored, whether ferry had it thawed, and
 * its outcome; then each key with no object at the instant, and why.
 */
class RestoreAccount {
  readonly #rows: string[] = ['key,version_id,storage_class,thaw,outcome,detail'];
  thawRequested = 0;
  thawFailed = 0;

  async add(store: JobStore, jobId: string, manifest: string, result: ManifestResult | undefined): Promise<void> {
    const entries = parseManifest(await getText(store, manifest));
    const thaw = await thawRecord(store, jobId, manifest);
    const requested = new Set(thaw?.requested ?? []);
    const unthawed = new Set(thaw?.failures.map((f) => f.index) ?? []);
    this.thawRequested += requested.size;
    this.thawFailed += thaw?.failures.length ?? 0;
    const failed = new Map((result?.failures ?? []).map((f) => [f.key, f]));
    const done = new Set(result?.doneAbove ?? []);
    entries.forEach((e, i) => {
      const thawed = thaw === undefined ? '' : unthawed.has(i) ? 'failed' : requested.has(i) ? 'requested' : 'not-needed';
      const failure = failed.get(e.k);
      const finished = result !== undefined && (i < result.doneThrough || done.has(i));
      const [outcome, detail] = failure ? ['failed', `${failure.code}: ${failure.message}`] : finished ? ['copied', ''] : ['not-copied', 'its manifest did not finish'];
      this.#rows.push([e.k, e.v ?? '', e.c ?? 'STANDARD', thawed, outcome, detail].map(csvField).join(','));
    });
  }

  async csv(store: JobStore, jobId: string, absentBatches: number): Promise<string> {
    for (let n = 1; n <= absentBatches; n++) {
      for (const line of parseManifest(await getText(store, jobKeys.absent(jobId, n))) as unknown as { k: string; why: string; v?: string }[]) {
        const detail = line.why === 'deleted' ? 'deleted at that time (a delete marker was its newest version)' : 'written after that time';
        this.#rows.push([line.k, line.v ?? '', '', '', 'skipped', detail].map(csvField).join(','));
      }
    }
    return `${this.#rows.join('\n')}\n`;
  }
}
