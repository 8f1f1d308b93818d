// What the Lambda handlers share: configuration read once at cold start, clients and the
// pool created once per container, and the event check every handler puts in front of its core.
import type { MiddlewareObj } from '@middy/core';
import { s3Client } from '../lib/core/clients.ts';
import { BadInputError } from '../lib/core/errors.ts';
import { S3JobStore } from '../lib/core/jobstore.ts';
import { Pool } from '../lib/core/pool.ts';
import { noProgress } from '../lib/core/progress.ts';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new BadInputError(`environment variable ${name} is not set`);
  return value;
}

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new BadInputError(`environment variable ${name} is not a number: ${raw}`);
  return value;
}

export const config = Object.freeze({
  jobBucket: requiredEnv('FERRY_JOB_BUCKET'),
  jobPrefix: process.env.FERRY_JOB_PREFIX ?? 'jobs/',
  /** Stop taking new work this long before the Lambda's timeout. */
  marginMs: numberEnv('FERRY_MARGIN_MS', 90_000),
  initialConcurrency: numberEnv('FERRY_CONCURRENCY', 64),
});

export const store = new S3JobStore(s3Client({}), config.jobBucket, config.jobPrefix);
export const pool = new Pool({ initial: config.initialConcurrency, max: 1024 });
export const progress = noProgress;

/**
 * middy's plugin options for every handler. Its early timeout is off: the cores stop taking work
 * before their deadline themselves and leave a checkpoint; an invocation that still overruns is
 * ended by Lambda and retried by the state machine from that checkpoint, instead of failing with
 * middy's TimeoutError.
 */
export const middyOptions = { timeoutEarlyInMillis: 0 };
export { s3Client };

/** Rejects events with missing or unknown fields before the core sees them. */
export function eventShape(required: readonly string[], optional: readonly string[] = []): MiddlewareObj {
  const known = new Set([...required, ...optional]);
  return {
    before: (request) => {
      const event = request.event as Record<string, unknown> | null;
      if (typeof event !== 'object' || event === null) throw new BadInputError('event is not an object');
      for (const key of required) if (!(key in event)) throw new BadInputError(`event has no "${key}"`);
      for (const key of Object.keys(event)) if (!known.has(key)) throw new BadInputError(`event has unknown field "${key}"`);
    },
  };
}
