import middy from '@middy/core';
import { SFNClient } from '@aws-sdk/client-sfn';
import { BadInputError } from '../../lib/core/errors.ts';
import { type ScheduledRunInput, startScheduledRun } from '../../lib/core/schedule.ts';
import { eventShape, middyOptions, store } from '../runtime.ts';

const sfn = new SFNClient({});

/** Invoked by an EventBridge schedule: starts one run of its job (a restore on the restore state machine), or records why it did not. */
export const handler = middy((event: ScheduledRunInput) => {
  const variable = event.job.restore ? 'FERRY_RESTORE_STATE_MACHINE_ARN' : 'FERRY_STATE_MACHINE_ARN';
  const stateMachineArn = process.env[variable];
  if (!stateMachineArn) throw new BadInputError(`environment variable ${variable} is not set`);
  return startScheduledRun(event, { store, sfn, stateMachineArn });
}, middyOptions).use(eventShape(['schedule', 'scheduledTime', 'job']));
