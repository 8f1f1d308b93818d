// `ferry plan --estimate`: the plan's manifests turned into requests, seconds and dollars.
import { ASSUMED, type Estimate, estimate, REQUEST_KINDS, type Route } from '../core/estimate.ts';
import { jobKeys, type TransferOptions } from '../core/job.ts';
import { getText, type JobStore } from '../core/jobstore.ts';
import { parseManifest } from '../core/manifest.ts';
import type { PlanState } from '../core/plan.ts';
import type { Report } from '../core/report.ts';
import { formatBytes } from '../core/size.ts';

export interface EstimateContext {
  readonly route: Route;
  readonly engine: 'aws' | 'local';
  readonly transfer: TransferOptions;
  readonly regions?: { readonly source?: string; readonly destination?: string };
}

export async function planEstimate(store: JobStore, jobId: string, plan: PlanState, result: Report, ctx: EstimateContext): Promise<Estimate> {
  async function* manifests() {
    for (let n = 1; n <= plan.manifests; n++) yield parseManifest(await getText(store, jobKeys.manifest(jobId, n)));
  }
  const deleting = result.deletes && !plan.deleteRefused ? result.deletes.planned : 0;
  return estimate({
    route: ctx.route,
    engine: ctx.engine,
    manifests: manifests(),
    listed: [ctx.route !== 'push' && plan.objects + (plan.skipped ?? 0), ctx.route !== 'pull' && (plan.destinationObjects ?? 0)].filter((n) => n !== false),
    ranges: plan.ranges?.length ?? 1,
    deletes: deleting,
    ...(ctx.regions && { regions: ctx.regions }),
    transfer: ctx.transfer,
  });
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

function usd(x: number): string {
  return x > 0 && x < 0.005 ? '<$0.01' : `$${x.toFixed(2)}`;
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/** The estimate as the lines `ferry plan --estimate` prints after the plan's own. */
export function estimateLines(e: Estimate, ctx: EstimateContext): string[] {
  const requests = REQUEST_KINDS.filter((k) => e.requests[k] > 0)
    .map((k) => `${k} ${count(e.requests[k])}`)
    .join(', ');
  const where = e.lambda ? 'in the cloud (--engine aws)' : ctx.route === 'push' || ctx.route === 'pull' ? 'from this host' : 'in this process (--engine local)';
  const lines = [
    `estimate, ${where}, at ${e.prices.region} list prices read ${e.prices.read}:`,
    `  S3 requests:    ${requests || 'none'}: ${usd(e.requestDollars)}`,
  ];
  if (e.jobStore.writes) lines.push(`  job store:      about ${count(e.jobStore.writes)} writes, ${count(e.jobStore.reads)} reads: ${usd(e.jobStore.dollars)}`);
  const t = e.transfer;
  const transfer =
    t.kind === 'none'
      ? ctx.regions?.source && ctx.regions.destination
        ? 'none (one region)'
        : 'none (both buckets taken to be in one region; S3 did not say)'
      : `${formatBytes(e.bytes)} ${t.kind}`;
  lines.push(`  data transfer:  ${transfer}: ${usd(t.dollars)}`);
  if (e.lambda) {
    lines.push(`  Lambda:         ${count(e.lambda.invocations)} invocations, ${count(e.lambda.gbSeconds)} GB-s (arm64, ${count(e.lambda.memoryMB)} MB): ${usd(e.lambda.dollars)}`);
  }
  if (e.stepFunctions) lines.push(`  Step Functions: ${count(e.stepFunctions.transitions)} state transitions: ${usd(e.stepFunctions.dollars)}`);
  if (e.sqs) lines.push(`  SQS:            ${count(e.sqs.requests)} requests if run as a fleet (ferry scan, ferry work): ${usd(e.sqs.dollars)}`);
  else if (e.lambda) lines.push('  SQS:            none (the cloud fans out with a Distributed Map)');
  lines.push(`  total:          ${usd(e.dollars)}`);
  const at = e.lambda ? `${count(e.copiers)} copiers at once, ${count(e.requestsInFlight)} requests in flight each` : `${count(e.requestsInFlight)} requests in flight`;
  lines.push(
    `  expected duration: about ${duration(e.seconds)} at ${at} (assumed: ${ASSUMED.requestSeconds * 1000} ms a request, ` +
      `${ASSUMED.streamBytesPerSecond / 1e6} MB/s a stream, ${ASSUMED.copierBytesPerSecond / 1e6} MB/s a copier, ` +
      `${count(ASSUMED.writesPerSecondPerPrefix)} writes/s a prefix)`,
  );
  if (e.dataSync) {
    const d = e.dataSync;
    lines.push(
      `  on DataSync (${d.mode} mode): ${usd(d.dollars)} (${usd(d.fee)} DataSync, at least ${usd(d.requestDollars)} S3 requests` +
        `${d.transferDollars ? `, ${usd(d.transferDollars)} transfer` : ''})`,
    );
  }
  if (e.batchOperations) {
    const b = e.batchOperations;
    const skipped = b.tooLarge ? `; ${count(b.tooLarge)} objects over 5 GB it cannot copy` : '';
    const transfer = e.transfer.dollars ? `, ${usd(e.transfer.dollars)} transfer` : '';
    lines.push(`  on S3 Batch Operations (Copy): ${usd(b.dollars)} (${usd(b.fee)} Batch Operations, ${usd(b.requestDollars)} S3 requests${transfer}${skipped})`);
  }
  return lines;
}
