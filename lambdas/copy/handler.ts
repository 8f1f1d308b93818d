import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type CopyInput, copyManifest } from '../../lib/core/copy.ts';
import { config, eventShape, middyOptions, pool, progress, s3Client, store } from '../runtime.ts';

export const handler = middy((event: CopyInput, context: Context) =>
  copyManifest(event, {
    store,
    s3: s3Client,
    pool,
    remainingMs: () => context.getRemainingTimeInMillis(),
    marginMs: config.marginMs,
    progress,
  }),
  middyOptions,
).use(eventShape(['jobId', 'manifest'], ['done', 'error']));
