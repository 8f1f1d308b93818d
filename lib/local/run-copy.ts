// Runs a copy job's state machine in-process: the local engine with the same handler cores the
// Lambdas run (lib/core), over any job store.
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { type EndpointConfig, s3Client } from '../core/clients.ts';
import { copyManifest } from '../core/copy.ts';
import { deleteExtra } from '../core/delete.ts';
import type { CopyJob } from '../core/job.ts';
import type { JobStore } from '../core/jobstore.ts';
import { type PlanState, plan, startInput } from '../core/plan.ts';
import { poolFor } from '../core/pool.ts';
import type { ProgressSink } from '../core/progress.ts';
import { type Report, report } from '../core/report.ts';
import { thawPass } from '../core/thaw.ts';
import { LocalEngine } from './engine.ts';
import type { Json } from './jsonpath.ts';

export const COPY_DEFINITION = fileURLToPath(new URL('../../state-machines/copy.asl.json', import.meta.url));
export const RESTORE_DEFINITION = fileURLToPath(new URL('../../state-machines/restore.asl.json', import.meta.url));

/** The execution input of copy.asl.json, as the local engine takes it. */
export function executionInput(job: CopyJob, resumeFrom?: PlanState): Json {
  return startInput(job, resumeFrom) as unknown as Json;
}

export interface LocalRunOptions {
  readonly store: JobStore;
  readonly progress: ProgressSink & { planningDone: boolean };
  /** How handlers reach S3 (the embedded Step Functions endpoint points them at its S3). */
  readonly s3?: (config: EndpointConfig) => S3Client;
  /** Each handler invocation's time budget, as a Lambda's timeout would be. */
  readonly invocationMs: number;
  /** The saved plan state of an interrupted run of this job: planning and copying carry on from it. */
  readonly resumeFrom?: PlanState;
}

/** Runs the copy (or restore) state machine in-process with the same handler cores the Lambdas run. */
export async function runLocal(job: CopyJob, options: LocalRunOptions): Promise<Report> {
  const { store, progress } = options;
  const s3 = options.s3 ?? s3Client;
  const pool = poolFor(job.transfer.concurrency);
  const budget = () => {
    const deadline = Date.now() + options.invocationMs;
    return () => deadline - Date.now();
  };
  const engine = new LocalEngine({
    functions: {
      PlanFunctionArn: async (input) => {
        const out = await plan(input as never, { store, s3, remainingMs: budget(), marginMs: 0, progress });
        if (out.done) progress.planningDone = true;
        return out as unknown as Json;
      },
      CopyFunctionArn: async (input) =>
        (await copyManifest(input as never, {
          store,
          s3,
          pool,
          remainingMs: budget(),
          marginMs: 0,
          progress,
        })) as unknown as Json,
      DeleteFunctionArn: async (input) =>
        (await deleteExtra(input as never, { store, s3, remainingMs: budget(), marginMs: 0 })) as unknown as Json,
      ThawFunctionArn: async (input) =>
        (await thawPass(input as never, { store, s3, remainingMs: budget(), marginMs: 0 })) as unknown as Json,
      ReportFunctionArn: async (input) => (await report(input as never, { store })) as unknown as Json,
    },
    readObject: async (bucket, key) => {
      if (bucket !== store.bucket) throw new Error(`the local engine reads only its job store, not ${bucket}`);
      const text = await store.get(store.unlocate(key));
      if (text === undefined) throw new Error(`job store has no ${key}`);
      return text;
    },
    writeObject: async (bucket, key, body) => {
      if (bucket !== store.bucket) throw new Error(`the local engine writes only its job store, not ${bucket}`);
      await store.put(store.unlocate(key), body);
    },
  });
  const definition = job.restore ? RESTORE_DEFINITION : COPY_DEFINITION;
  return (await engine.run(definition, executionInput(job, options.resumeFrom))) as unknown as Report;
}
