// A scheduled sync's starter (lambdas/start, lib/core/schedule.ts) against the Step Functions API:
// EventBridge Scheduler cannot run here, so the test fires the schedule itself, with the input the
// CDK construct gives it; the local Step Functions endpoint (`ferry serve`'s) runs the executions
// with the Lambdas' cores over an S3 job store on the embedded endpoint.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DEFAULT_MANIFEST_MAX_BYTES, defaultTransferOptions } from '../lib/core/job.ts';
import { getJson, S3JobStore } from '../lib/core/jobstore.ts';
import type { Report } from '../lib/core/report.ts';
import { type ScheduledRunInput, startScheduledRun } from '../lib/core/schedule.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { LOCAL_STATE_MACHINE_ARN, type StepFunctionsEndpoint, startStepFunctionsEndpoint } from '../lib/local/sfn-endpoint.ts';
import { listAll, serverWithBuckets } from './helpers.ts';

describe('scheduled sync: one run at a time', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let endpoint: StepFunctionsEndpoint;
  let sfn: SFNClient;
  let store: S3JobStore;

  before(async () => {
    ({ server, client } = await serverWithBuckets('sched-jobs', 'sched-src', 'sched-dst'));
    endpoint = await startStepFunctionsEndpoint({ s3Endpoint: server.endpoint, jobBucket: 'sched-jobs' });
    sfn = new SFNClient({ endpoint: endpoint.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    store = new S3JobStore(client, 'sched-jobs');
  });
  after(async () => {
    await endpoint?.stop();
    await server?.stop();
  });

  const fire = (scheduledTime: string) => {
    const input: ScheduledRunInput = {
      schedule: 'nightly',
      scheduledTime,
      job: {
        kind: 'copy',
        source: { kind: 's3', bucket: 'sched-src', prefix: '' },
        destination: { kind: 's3', bucket: 'sched-dst', prefix: 'm/' },
        include: [],
        exclude: [],
        dryRun: false,
        transfer: defaultTransferOptions,
        manifestMaxEntries: 100,
        manifestMaxBytes: DEFAULT_MANIFEST_MAX_BYTES,
        sync: { compare: 'time', delete: true, maxDeletePercent: 50, force: false },
      },
    };
    return startScheduledRun(input, { store, sfn, stateMachineArn: LOCAL_STATE_MACHINE_ARN });
  };
  const finished = async (executionArn: string) => {
    for (;;) {
      const e = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      if (e.status !== 'RUNNING') return e;
      await sleep(100);
    }
  };

  it('starts a run, skips and records a trigger while it runs, ignores a duplicate, and runs again once it is done', async () => {
    for (let i = 0; i < 2000; i++) await client.send(new PutObjectCommand({ Bucket: 'sched-src', Key: `k/${i}`, Body: `v${i}` }));
    await sleep(1100); // the copies are written in a later second than the sources (LastModified has whole seconds)

    const first = await fire('2026-11-21T02:00:00Z');
    assert.ok(first.started, JSON.stringify(first));
    assert.equal(first.jobId, 'nightly-20261121T020000Z');

    // 2,000 objects take the local engine well over the few milliseconds until the next trigger.
    const second = await fire('2026-11-21T02:05:00Z');
    assert.deepEqual(second, {
      started: false,
      jobId: 'nightly-20261121T020500Z',
      reason: 'the previous run nightly-20261121T020000Z is still running',
      running: first.executionArn,
    });
    const skip = await getJson<{ reason: string; scheduledTime: string }>(store, 'schedules/nightly/skipped/nightly-20261121T020500Z.json');
    assert.equal(skip.scheduledTime, '2026-11-21T02:05:00Z');
    assert.match(skip.reason, /still running/);
    assert.equal(await store.get('nightly-20261121T020500Z/job.json'), undefined, 'no job for a skipped run');

    // The same trigger delivered again: no second execution.
    const again = await fire('2026-11-21T02:00:00Z');
    assert.equal(again.started, false);
    assert.match((again as { reason: string }).reason, /delivered twice/);

    const done = await finished(first.executionArn);
    assert.equal(done.status, 'SUCCEEDED', `${done.error} ${done.cause}`);
    const r1 = JSON.parse(done.output ?? '{}') as Report;
    assert.deepEqual(r1.objects, { total: 2000, copied: 2000, skipped: 0, failed: 0 });
    assert.equal((await listAll(client, 'sched-dst', 'm/')).length, 2000);
    await sleep(1100);

    // The next night: the source changed a little; only that is copied, and what it lost deleted.
    await client.send(new PutObjectCommand({ Bucket: 'sched-src', Key: 'k/new', Body: 'new' }));
    await client.send(new PutObjectCommand({ Bucket: 'sched-dst', Key: 'm/stale', Body: 'stale' }));
    await sleep(1100);
    const third = await fire('2026-11-22T02:00:00Z');
    assert.ok(third.started, JSON.stringify(third));
    const r3 = JSON.parse((await finished(third.executionArn)).output ?? '{}') as Report;
    assert.deepEqual(r3.objects, { total: 2001, copied: 1, skipped: 2000, failed: 0 });
    assert.deepEqual(r3.deletes, { planned: 1, deleted: 1, failed: 0 });
    assert.equal((await listAll(client, 'sched-dst', 'm/')).length, 2001);
  });

  it('refuses a bad schedule name or time before writing anything', async () => {
    const input = (schedule: string, scheduledTime: string) =>
      startScheduledRun({ schedule, scheduledTime, job: {} as ScheduledRunInput['job'] }, { store, sfn, stateMachineArn: LOCAL_STATE_MACHINE_ARN });
    await assert.rejects(input('has space', '2026-11-21T02:00:00Z'), { name: 'BadInputError', message: /schedule name/ });
    await assert.rejects(input('ok', 'not a time'), { name: 'BadInputError', message: /is not a time/ });
  });
});
