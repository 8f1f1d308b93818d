import middy from '@middy/core';
import { type ReportInput, report } from '../../lib/core/report.ts';
import { eventShape, middyOptions, store } from '../runtime.ts';

export const handler = middy((event: ReportInput) => report(event, { store }), middyOptions).use(
  eventShape(['jobId', 'plan'], ['dryRun', 'copyError', 'deleted']),
);
