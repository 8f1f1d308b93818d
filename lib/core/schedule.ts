import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { BadInputError } from './errors.ts';
import { type CopyJob, jobKeys } from './job.ts';
import type { JobStore } from './jobstore.ts';
import { startInput } from './plan.ts';

/** What a schedule sends the starter each time it fires. */
export interface ScheduledRunInput {
  /** The schedule's name: each run's job (and execution) is named after it and the time it fired. */
  readonly schedule: string;
  /** When the schedule fired (EventBridge Scheduler's `<aws.scheduler.scheduled-time>`), ISO 8601. */
  readonly scheduledTime: string;
  /** The job each run does: a copy or a sync, without its id and creation time. */
  readonly job: Omit<CopyJob, 'jobId' | 'createdAt'>;
}

export type ScheduledRunOutput =
  | { readonly started: true; readonly jobId: string; readonly executionArn: string }
  | { readonly started: false; readonly jobId: string; readonly reason: string; readonly running?: string };

export interface ScheduleDeps {
  readonly store: JobStore;
  readonly sfn: SFNClient;
  readonly stateMachineArn: string;
}

/** The schedule's last started run, kept beside its jobs. */
interface LastRun {
  jobId: string;
  executionArn: string;
}

const scheduleKeys = {
  last: (schedule: string) => `schedules/${schedule}/last.json`,
  skipped: (schedule: string, jobId: string) => `schedules/${schedule}/skipped/${jobId}.json`,
};

/**
 * Starts one scheduled run of a job, unless the schedule's previous run is still going: then this
 * run is skipped and the skip recorded (`schedules/<name>/skipped/<jobId>.json` in the job store),
 * so two runs of one schedule never overlap. The job id is the schedule's name and the time it
 * fired, so a trigger delivered twice starts one execution (Step Functions refuses a second
 * execution of the same name).
 */
export async function startScheduledRun(input: ScheduledRunInput, deps: ScheduleDeps): Promise<ScheduledRunOutput> {
  const fired = new Date(input.scheduledTime);
  if (!/^[A-Za-z0-9-]{1,40}$/.test(input.schedule)) throw new BadInputError(`schedule name "${input.schedule}": letters, digits and -, at most 40`);
  if (Number.isNaN(fired.getTime())) throw new BadInputError(`scheduledTime "${input.scheduledTime}" is not a time`);
  const jobId = `${input.schedule}-${fired.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;

  const last = await deps.store.get(scheduleKeys.last(input.schedule));
  if (last !== undefined) {
    const previous = JSON.parse(last) as LastRun;
    if (previous.jobId === jobId) return { started: false, jobId, reason: 'this trigger was delivered twice; its run has started' };
    const described = await deps.sfn.send(new DescribeExecutionCommand({ executionArn: previous.executionArn }));
    if (described.status === 'RUNNING') {
      const reason = `the previous run ${previous.jobId} is still running`;
      await deps.store.put(scheduleKeys.skipped(input.schedule, jobId), JSON.stringify({ jobId, scheduledTime: input.scheduledTime, reason, running: previous.executionArn }));
      return { started: false, jobId, reason, running: previous.executionArn };
    }
  }

  const job: CopyJob = { ...input.job, jobId, createdAt: fired.toISOString() };
  await deps.store.put(jobKeys.job(jobId), JSON.stringify(job, null, 2));
  let executionArn: string;
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name: jobId, input: JSON.stringify(startInput(job)) }),
    );
    executionArn = started.executionArn as string;
  } catch (err) {
    if ((err as Error).name !== 'ExecutionAlreadyExists') throw err;
    return { started: false, jobId, reason: 'this trigger was delivered twice; its run has started' };
  }
  await deps.store.put(scheduleKeys.last(input.schedule), JSON.stringify({ jobId, executionArn } satisfies LastRun));
  return { started: true, jobId, executionArn };
}
