// A job's figures as CloudWatch embedded metrics: one JSON line per Lambda invocation on stdout,
// which Lambda sends to CloudWatch Logs and CloudWatch turns into metrics, with no API call and
// no permission beyond writing logs. Each figure is published per job (JobId) and for all jobs
// together (no dimension), which the dashboard and the alarms read.
import type { ErrorInfo } from './errors.ts';
import type { ProgressSink } from './progress.ts';

export const METRICS_NAMESPACE = 'ferry';

/** The metric names, with their units, as the dashboard and alarms name them. */
export const METRICS = {
  ObjectsCopied: 'Count',
  ObjectsSkipped: 'Count',
  ObjectsFailed: 'Count',
  BytesCopied: 'Bytes',
  Retries: 'Count',
  Throttles: 'Count',
} as const;

export type MetricName = keyof typeof METRICS;

/** Counts what one invocation did, as a progress sink, and writes it out as one EMF line. */
export class MetricsSink implements ProgressSink {
  readonly counts: Record<MetricName, number> = { ObjectsCopied: 0, ObjectsSkipped: 0, ObjectsFailed: 0, BytesCopied: 0, Retries: 0, Throttles: 0 };

  planned(): void {}

  bytes(n: number): void {
    this.counts.BytesCopied += n;
  }

  object(outcome: 'copied' | 'skipped' | 'failed'): void {
    if (outcome === 'copied') this.counts.ObjectsCopied++;
    else if (outcome === 'skipped') this.counts.ObjectsSkipped++;
    else this.counts.ObjectsFailed++;
  }

  retry(info: ErrorInfo): void {
    this.counts.Retries++;
    if (info.throttle) this.counts.Throttles++;
  }

  /** The EMF document for `jobId`; nothing when the invocation did nothing worth a data point. */
  document(jobId: string, now = Date.now()): string | undefined {
    if (Object.values(this.counts).every((n) => n === 0)) return undefined;
    return JSON.stringify({
      _aws: {
        Timestamp: now,
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['JobId'], []],
            Metrics: Object.entries(METRICS).map(([Name, Unit]) => ({ Name, Unit })),
          },
        ],
      },
      JobId: jobId,
      ...this.counts,
    });
  }

  emit(jobId: string, write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): void {
    const line = this.document(jobId);
    if (line) write(line);
  }
}
