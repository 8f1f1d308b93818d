import middy from '@middy/core';
import { type ReportInput, report } from '../../lib/core/report.ts';
import { eventShape, store } from '../runtime.ts';

export const handler = middy((event: ReportInput) => report(event, { store })).use(
  eventShape(['jobId', 'plan'], ['dryRun']),
);
