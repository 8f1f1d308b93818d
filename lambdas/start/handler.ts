import middy from '@middy/core';
import { SFNClient } from '@aws-sdk/client-sfn';
import { BadInputError } from '../../lib/core/errors.ts';
import { type ScheduledRunInput, startScheduledRun } from '../../lib/core/schedule.ts';
import { eventShape, middyOptions, store } from '../runtime.ts';

const stateMachineArn = process.env.FERRY_STATE_MACHINE_ARN;
const sfn = new SFNClient({});

/** Invoked by an EventBridge schedule: starts one run of its job, or records why it did not. */
export const handler = middy((event: ScheduledRunInput) => {
  if (!stateMachineArn) throw new BadInputError('environment variable FERRY_STATE_MACHINE_ARN is not set');
  return startScheduledRun(event, { store, sfn, stateMachineArn });
}, middyOptions).use(eventShape(['schedule', 'scheduledTime', 'job']));
