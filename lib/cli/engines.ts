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
import type { Report } from '../core/report.ts';
import { executionInput } from '../local/run-copy.ts';
import type { ProgressLine } from './progress.ts';

export interface AwsRunOptions {
  readonly stateMachineArn: string;
  readonly progress: ProgressLine;
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
      input: JSON.stringify(executionInput(job)),
    }),
  );
  const executionArn = started.executionArn as string;
  for (let poll = 0; ; poll++) {
    await sleep(Math.min(3000, 250 * 2 ** poll));
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    await followMapRun(sfn, executionArn, options.progress);
    if (execution.status === 'SUCCEEDED') return JSON.parse(execution.output ?? '{}') as Report;
    if (execution.status !== 'RUNNING') {
      throw new CannotRunError(`execution ${executionArn} ${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''}`.trim());
    }
  }
}

// The Map Run's item counts are manifests, not objects: shown as they come.
async function followMapRun(sfn: SFNClient, executionArn: string, progress: ProgressLine): Promise<void> {
  const runs = await sfn.send(new ListMapRunsCommand({ executionArn }));
  const arn = runs.mapRuns?.[0]?.mapRunArn;
  if (!arn) return;
  const run = await sfn.send(new DescribeMapRunCommand({ mapRunArn: arn }));
  progress.planningDone = true;
  progress.planned(run.itemCounts?.total ?? 0, 0);
  progress.copied = run.itemCounts?.succeeded ?? 0;
  progress.failed = run.itemCounts?.failed ?? 0;
}

export type { Report };
