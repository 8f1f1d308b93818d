import { ContextAttribute, Schedule, type ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import {
  type CopyJob,
  DEFAULT_MANIFEST_MAX_BYTES,
  DEFAULT_MANIFEST_MAX_ENTRIES,
  DEFAULT_RESTORE,
  defaultTransferOptions,
  readableCopies,
  type RestoreOptions,
  type SyncOptions,
} from '../core/job.ts';
import { overlaps, parseLocation, type S3Location } from '../core/locations.ts';
import type { ScheduledRunInput } from '../core/schedule.ts';
import type { CopyStateMachine } from './copy-state-machine.ts';

/** The job a schedule runs: a copy, a sync when `sync` is given, or a restore (of the current state, thawed) when `restore` is. */
export interface ScheduledJobSpec {
  /** s3://bucket[/prefix], a bucket among the stack's source buckets. */
  readonly source: string;
  /** s3://bucket[/prefix], a bucket among the stack's destination buckets. */
  readonly destination: string;
  /** Sync options; every one has the CLI's default (compare by size and time, no delete, 50%). */
  readonly sync?: Partial<SyncOptions>;
  /** Restore options (`thawTier`, default Bulk; `thawDays`, default 7; `at`, a fixed instant): the run goes on the restore state machine. */
  readonly restore?: Partial<RestoreOptions>;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /**
   * List the source from S3 Inventory: an inventory configuration's folder
   * (s3://bucket/[prefix/]source-bucket/config-id/), whose newest report each run reads, in a
   * bucket among the stack's inventory buckets.
   */
  readonly inventory?: string;
}

export interface ScheduledJobProps {
  readonly copy: CopyStateMachine;
  /** Letters, digits and -: each run's job is `<name>-<time it fired>`. */
  readonly name: string;
  /** For example `ScheduleExpression.cron({ hour: '2', minute: '0' })` or `ScheduleExpression.expression('rate(6 hours)')`. */
  readonly schedule: ScheduleExpression;
  readonly job: ScheduledJobSpec;
}

/**
 * A copy or sync run by an EventBridge Scheduler schedule: each time it fires, the copy state
 * machine's starter writes the job and starts an execution, or, while the previous run of this
 * schedule is still going, records the skip instead; runs of one schedule never overlap.
 */
export class ScheduledJob extends Construct {
  readonly schedule: Schedule;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9-]{1,40}$/.test(props.name)) throw new Error(`ScheduledJob ${id}: name "${props.name}": letters, digits and -, at most 40`);
    const source = s3Side(props.job.source, `ScheduledJob ${id}: source`);
    const destination = s3Side(props.job.destination, `ScheduledJob ${id}: destination`);
    // The copier's role reaches only the stack's buckets: anything else would fail on every run.
    if (!props.copy.sourceBuckets.includes(source.bucket)) {
      throw new Error(`ScheduledJob ${id}: ${source.bucket} is not among the source buckets (ferry:sourceBuckets)`);
    }
    if (!props.copy.destinationBuckets.includes(destination.bucket)) {
      throw new Error(`ScheduledJob ${id}: ${destination.bucket} is not among the destination buckets (ferry:destinationBuckets)`);
    }
    if (overlaps(source, destination)) throw new Error(`ScheduledJob ${id}: the destination overlaps the source`);

    if (props.job.sync && props.job.restore) throw new Error(`ScheduledJob ${id}: sync or restore, not both`);
    const inventory = props.job.inventory;
    if (inventory !== undefined) {
      const bucket = /^s3:\/\/([^/]+)\/.*\/$/.exec(inventory)?.[1];
      if (!bucket) throw new Error(`ScheduledJob ${id}: inventory "${inventory}" is not an inventory configuration's folder, s3://bucket/.../config-id/`);
      if (!props.copy.inventoryBuckets.includes(bucket)) throw new Error(`ScheduledJob ${id}: ${bucket} is not among the inventory buckets (ferry:inventoryBuckets)`);
      if (props.job.restore) throw new Error(`ScheduledJob ${id}: a restore lists versions; it cannot read an inventory`);
    }
    const sync = props.job.sync && { compare: 'time' as const, delete: false, maxDeletePercent: 50, force: false, ...props.job.sync };
    const restore = props.job.restore && { ...DEFAULT_RESTORE, ...props.job.restore };
    const job: Omit<CopyJob, 'jobId' | 'createdAt'> = {
      kind: 'copy',
      source,
      destination,
      include: [...(props.job.include ?? [])],
      exclude: [...(props.job.exclude ?? [])],
      dryRun: false,
      transfer: restore ? readableCopies(defaultTransferOptions) : defaultTransferOptions,
      manifestMaxEntries: DEFAULT_MANIFEST_MAX_ENTRIES,
      manifestMaxBytes: DEFAULT_MANIFEST_MAX_BYTES,
      ...(sync && { sync }),
      ...(restore && { restore }),
      ...(inventory !== undefined && { inventory }),
    };
    const input: ScheduledRunInput = { schedule: props.name, scheduledTime: ContextAttribute.scheduledTime, job };
    this.schedule = new Schedule(this, 'Schedule', {
      schedule: props.schedule,
      description: `ferry ${sync ? 'sync' : restore ? 'restore' : 'copy'} ${props.job.source} -> ${props.job.destination}`,
      target: new LambdaInvoke(props.copy.starter(), { input: ScheduleTargetInput.fromObject(input), retryAttempts: 3 }),
    });
  }
}

function s3Side(text: string, what: string): S3Location {
  const loc = parseLocation(text);
  if (loc.kind !== 's3') throw new Error(`${what} "${text}" is not s3://bucket[/prefix]`);
  return loc;
}
