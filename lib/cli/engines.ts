import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListMapRunsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { CannotRunError } from '../core/errors.ts';
import type { CopyJob } from '../core/job.ts';
import type { JobStore } from '../core/jobstore.ts';
import { startInput } from '../core/plan.ts';
import { JobTracker } from '../core/status.ts';
import type { Report } from '../core/report.ts';
import type { ProgressLine } from './progress.ts';

export interface AwsRunOptions {
  readonly stateMachineArn: string;
  readonly progress: ProgressLine;
  /** The job bucket, from which the progress line counts objects and bytes as the copiers record them. */
  readonly store: JobStore;
  readonly profile?: string;
  readonly region?: string;
}

/** Starts an execution of the deployed state machine and follows it to the end. */
export async function runAws(job: CopyJob, options: AwsRunOptions): Promise<Report> {
  const sfn = new SFNClient({ profile: options.profile, region: options.region });
  const started = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: options.stateMachineArn,
      name: job.jobId,
      input: JSON.stringify(startInput(job)),
    }),
  );
  const executionArn = started.executionArn as string;
  const tracker = new JobTracker(options.store, job.jobId);
  for (let poll = 0; ; poll++) {
    await sleep(Math.min(3000, 250 * 2 ** poll));
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    options.progress.show(await tracker.refresh());
    if (execution.status === 'SUCCEEDED') return JSON.parse(execution.output ?? '{}') as Report;
    if (execution.status !== 'RUNNING') {
      throw new CannotRunError(`execution ${executionArn} ${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''}`.trim());
    }
  }
}

/** A cloud execution as `ferry status` shows it: its own status, and its Map Runs' counts of manifests. */
export interface ExecutionStatus {
  executionArn: string;
  status: string;
  startDate?: string;
  stopDate?: string;
  error?: string;
  mapRuns: { total: number; pending: number; running: number; succeeded: number; failed: number }[];
}

/** The execution of `jobId` on `stateMachineArn` (ferry names each execution after its job). */
export async function describeExecution(sfn: SFNClient, stateMachineArn: string, jobId: string): Promise<ExecutionStatus> {
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
  const e = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  const runs = await sfn.send(new ListMapRunsCommand({ executionArn }));
  const mapRuns = [];
  for (const run of runs.mapRuns ?? []) {
    const c = (await sfn.send(new DescribeMapRunCommand({ mapRunArn: run.mapRunArn }))).itemCounts;
    mapRuns.push({ total: c?.total ?? 0, pending: c?.pending ?? 0, running: c?.running ?? 0, succeeded: c?.succeeded ?? 0, failed: (c?.failed ?? 0) + (c?.timedOut ?? 0) + (c?.aborted ?? 0) });
  }
  return {
    executionArn,
    status: e.status ?? 'UNKNOWN',
    ...(e.startDate && { startDate: e.startDate.toISOString() }),
    ...(e.stopDate && { stopDate: e.stopDate.toISOString() }),
    ...(e.error && { error: `${e.error}: ${e.cause ?? ''}`.trim() }),
    mapRuns,
  };
}

export type { Report };
