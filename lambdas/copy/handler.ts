import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type CopyInput, copyManifest } from '../../lib/core/copy.ts';
import { MetricsSink } from '../../lib/core/metrics.ts';
import { config, eventShape, middyOptions, pool, s3Client, store } from '../runtime.ts';

/** Copies (part of) a manifest; what this invocation did goes out as embedded metrics, even when it fails part-way. */
export const handler = middy(async (event: CopyInput, context: Context) => {
  const metrics = new MetricsSink();
  try {
    return await copyManifest(event, {
      store,
      s3: s3Client,
      pool,
      remainingMs: () => context.getRemainingTimeInMillis(),
      marginMs: config.marginMs,
      progress: metrics,
    });
  } finally {
    metrics.emit(event.jobId);
  }
}, middyOptions).use(eventShape(['jobId', 'manifest'], ['done', 'error']));
