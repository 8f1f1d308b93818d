import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type PlanInput, plan } from '../../lib/core/plan.ts';
import { config, eventShape, middyOptions, progress, s3Client, store } from '../runtime.ts';

export const handler = middy((event: PlanInput, context: Context) =>
  plan(event, {
    store,
    s3: s3Client,
    remainingMs: () => context.getRemainingTimeInMillis(),
    marginMs: config.marginMs,
    progress,
  }),
  middyOptions,
).use(eventShape(['jobId'], ['plan']));
