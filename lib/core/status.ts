import type { ManifestResult } from './copy.ts';
import { type Job, jobKeys, loadAnyJob } from './job.ts';
import type { JobStore } from './jobstore.ts';
import type { PlanState } from './plan.ts';
import { eachAtOnce } from './pool.ts';
import type { ScanResult } from './report.ts';

/** Where a job stands, from its job store alone: what any machine can see of it. */
export interface JobStatus {
  job: Job;
  phase: 'planning' | 'transferring' | 'finished';
  /** Objects and bytes planned so far (final once planning is done; objects include what the walk passed over). */
  planned: { objects: number; bytes: number; manifests: number };
  planningDone: boolean;
  manifestsDone: number;
  objects: { copied: number; skipped: number; failed: number };
  bytesCopied: number;
  retries: number;
  /** Bytes per second since the job started, and the time left at that rate (seconds). */
  bytesPerSecond: number;
  etaSeconds?: number;
}

/**
 * Follows a job's results as they land: each manifest's result is read once (results never change
 * once written), so refreshing a job of 10,000 manifests costs only the newly finished ones.
 */
export class JobTracker {
  readonly #store: JobStore;
  readonly #jobId: string;
  #job: Job | undefined;
  /** Manifests whose result has been read (results never change once written). */
  readonly #done = new Set<string>();
  readonly #totals = { copied: 0, skipped: 0, failed: 0, bytesCopied: 0, retries: 0 };
  #scan: { skipped: number; failed: number } | undefined;

  constructor(store: JobStore, jobId: string) {
    this.#store = store;
    this.#jobId = jobId;
  }

  async refresh(now = new Date()): Promise<JobStatus> {
    this.#job ??= await loadAnyJob(this.#store, this.#jobId);
    const job = this.#job;
    const planText = await this.#store.get(jobKeys.plan(job.jobId));
    const plan: PlanState = planText ? JSON.parse(planText) : { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
    // A restore's archived objects have manifests of their own.
    const manifests = [
      ...Array.from({ length: plan.manifests }, (_, i) => jobKeys.manifest(job.jobId, i + 1)),
      ...Array.from({ length: plan.thawManifests ?? 0 }, (_, i) => jobKeys.thawManifest(job.jobId, i + 1)),
    ];
    const pending = manifests.filter((m) => !this.#done.has(m));
    await eachAtOnce(pending, 32, () => false, async (manifest) => {
      const text = await this.#store.get(jobKeys.result(job.jobId, manifest));
      if (text === undefined) return;
      const r = JSON.parse(text) as ManifestResult;
      this.#done.add(manifest);
      this.#totals.copied += r.copied;
      this.#totals.skipped += r.skipped ?? 0;
      this.#totals.failed += r.failed;
      this.#totals.bytesCopied += r.bytesCopied;
      this.#totals.retries += r.retries;
    });
    // What the walk passed over counts as the report counts it: skipped, or failed.
    if (plan.done && this.#scan === undefined) {
      const scan = await this.#store.get(jobKeys.scan(job.jobId));
      const parsed = scan ? (JSON.parse(scan) as ScanResult) : { skipped: [], failed: [] };
      this.#scan = { skipped: parsed.skipped.length, failed: parsed.failed.length };
    }
    const walked = this.#scan ?? { skipped: 0, failed: 0 };
    const reported = (await this.#store.get(jobKeys.report(job.jobId))) !== undefined;
    const seconds = Math.max(0.001, (now.getTime() - Date.parse(job.createdAt)) / 1000);
    const bytesPerSecond = this.#totals.bytesCopied / seconds;
    const left = plan.bytes - this.#totals.bytesCopied;
    return {
      job,
      phase: reported ? 'finished' : plan.done ? 'transferring' : 'planning',
      // A sync's planner skips what is already there: those count as the report counts them.
      planned: { objects: plan.objects + (plan.skipped ?? 0) + walked.skipped + walked.failed, bytes: plan.bytes, manifests: manifests.length },
      planningDone: plan.done,
      manifestsDone: this.#done.size,
      objects: { copied: this.#totals.copied, skipped: this.#totals.skipped + (plan.skipped ?? 0) + walked.skipped, failed: this.#totals.failed + walked.failed },
      bytesCopied: this.#totals.bytesCopied,
      retries: this.#totals.retries,
      bytesPerSecond,
      ...(plan.done && bytesPerSecond > 0 && { etaSeconds: Math.max(0, left) / bytesPerSecond }),
    };
  }
}

