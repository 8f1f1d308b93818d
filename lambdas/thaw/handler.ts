import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type ThawInput, thawPass } from '../../lib/core/thaw.ts';
import { config, eventShape, middyOptions, s3Client, store } from '../runtime.ts';

export const handler = middy((event: ThawInput, context: Context) =>
  thawPass(event, {
    store,
    s3: s3Client,
    remainingMs: () => context.getRemainingTimeInMillis(),
    marginMs: config.marginMs,
  }),
  middyOptions,
).use(eventShape(['jobId', 'plan'], ['thaw']));
