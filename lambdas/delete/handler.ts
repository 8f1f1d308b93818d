import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type DeleteInput, deleteExtra } from '../../lib/core/delete.ts';
import { config, eventShape, middyOptions, s3Client, store } from '../runtime.ts';

export const handler = middy((event: DeleteInput, context: Context) =>
  deleteExtra(event, {
    store,
    s3: s3Client,
    remainingMs: () => context.getRemainingTimeInMillis(),
    marginMs: config.marginMs,
  }),
  middyOptions,
).use(eventShape(['jobId', 'plan'], ['deleted']));
