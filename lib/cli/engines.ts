import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListMapRunsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { s3Client } from '../core/clients.ts';
import { copyManifest } from '../core/copy.ts';
import { CannotRunError } from '../core/errors.ts';
import type { CopyJob } from '../core/job.ts';
import type { JobStore } from '../core/jobstore.ts';
import type { PlanState } from '../core/plan.ts';
import { plan } from '../core/plan.ts';
import { Pool } from '../core/pool.ts';
import { type Report, report } from '../core/report.ts';
import { LocalEngine } from '../local/engine.ts';
import type { Json } from '../local/jsonpath.ts';
import type { ProgressLine } from './progress.ts';

export const COPY_DEFINITION = fileURLToPath(new URL('../../state-machines/copy.asl.json', import.meta.url));

/** The execution input of copy.asl.json. */
export function executionInput(job: CopyJob): Json {
  const start: PlanState = { done: false, startAfter: '', manifests: 0, objects: 0, bytes: 0 };
  return { jobId: job.jobId, dryRun: job.dryRun, plan: start as unknown as Json };
}

export interface LocalRunOptions {
  readonly store: JobStore;
  readonly progress: ProgressLine;
  /** Each handler invocation's time budget, as a Lambda's timeout would be. */
  readonly invocationMs: number;
}

/** Runs the copy state machine in-process with the same handler cores the Lambdas run. */
export async function runLocal(job: CopyJob, options: LocalRunOptions): Promise<Report> {
  const { store, progress } = options;
  const concurrency = job.transfer.concurrency;
  const pool = new Pool(concurrency > 0 ? { initial: concurrency, adaptive: false } : { initial: 64, max: 512 });
  const budget = () => {
    const deadline = Date.now() + options.invocationMs;
    return () => deadline - Date.now();
  };
  const engine = new LocalEngine({
    functions: {
      PlanFunctionArn: async (input) => {
        const out = await plan(input as never, { store, s3: s3Client, remainingMs: budget(), marginMs: 0, progress });
        if (out.done) progress.planningDone = true;
        return out as unknown as Json;
      },
      CopyFunctionArn: async (input) =>
        (await copyManifest(input as never, {
          store,
          s3: s3Client,
          pool,
          remainingMs: budget(),
          marginMs: 0,
          progress,
        })) as unknown as Json,
      ReportFunctionArn: async (input) => (await report(input as never, { store })) as unknown as Json,
    },
    readObject: async (bucket, key) => {
      if (bucket !== store.bucket) throw new Error(`the local engine reads only its job store, not ${bucket}`);
      const text = await store.get(key);
      if (text === undefined) throw new Error(`job store has no ${key}`);
      return text;
    },
    writeObject: async (bucket, key, body) => {
      if (bucket !== store.bucket) throw new Error(`the local engine writes only its job store, not ${bucket}`);
      await store.put(key, body);
    },
  });
  return (await engine.run(COPY_DEFINITION, executionInput(job))) as unknown as Report;
}

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
  for (;;) {
    await sleep(3000);
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
