// `--engine aws`: the CLI writes the job to the S3 job store, starts an execution through the Step
// Functions API and follows it to its report. Step Functions cannot run here: the local endpoint
// `ferry serve` offers stands in for it (lib/local/sfn-endpoint.ts), running the execution with
// the Lambdas' cores over the S3 job store. What this does not cover is AWS's own service.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { datasetSpecs, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { LOCAL_STATE_MACHINE_ARN, type StepFunctionsEndpoint, startStepFunctionsEndpoint } from '../lib/local/sfn-endpoint.ts';
import { localEnv, runFerry, serverWithBuckets } from './helpers.ts';

describe('ferry copy --engine aws', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let sfn: StepFunctionsEndpoint;
  before(async () => {
    ({ server, client } = await serverWithBuckets('cloud-jobs', 'cloud-src', 'cloud-dst'));
    sfn = await startStepFunctionsEndpoint({ s3Endpoint: server.endpoint, jobBucket: 'cloud-jobs' });
  });
  after(async () => {
    await sfn?.stop();
    await server?.stop();
  });

  it('runs the job through the Step Functions API and prints its report', async () => {
    const specs = datasetSpecs(200, [7 * 1024 * 1024]);
    await uploadDataset(client, 'cloud-src', specs);
    const env = localEnv({ AWS_ENDPOINT_URL: server.endpoint, AWS_ENDPOINT_URL_SFN: sfn.endpoint });
    const args = ['copy', 's3://cloud-src', 's3://cloud-dst/x', '--engine', 'aws', '--json', '--state-machine-arn', LOCAL_STATE_MACHINE_ARN];
    const run = await runFerry([...args, '--job-bucket', 'cloud-jobs'], { env });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const out = JSON.parse(run.stdout);
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
    assert.equal(out.reportPath, `s3://cloud-jobs/jobs/${out.jobId}/report.json`);
    const stored = await client.send(new GetObjectCommand({ Bucket: 'cloud-jobs', Key: `jobs/${out.jobId}/report.json` }));
    assert.equal(JSON.parse((await stored.Body?.transformToString()) ?? '{}').objects.copied, specs.length);
    const job = await client.send(new GetObjectCommand({ Bucket: 'cloud-jobs', Key: `jobs/${out.jobId}/job.json` }));
    const jobText = (await job.Body?.transformToString()) ?? '';
    assert.ok(!jobText.includes('endpoint'), 'the cloud job carries no local endpoints or profiles');
    assert.deepEqual((await verifyAgainstSpecs(client, 'cloud-dst', 'x/', specs)).mismatches, []);

    // ferry status of the cloud job: the job store's counts and the execution's status.
    const status = await runFerry(['status', out.jobId, '--job-bucket', 'cloud-jobs', '--state-machine-arn', LOCAL_STATE_MACHINE_ARN, '--json'], { env });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.phase, 'finished');
    assert.deepEqual(s.objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
    assert.deepEqual(s.bytes, { total: specs.reduce((n, o) => n + o.size, 0), copied: specs.reduce((n, o) => n + o.size, 0) });
    assert.equal(s.execution.status, 'SUCCEEDED');
    assert.equal(s.execution.executionArn, `${LOCAL_STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${out.jobId}`);
    const text = await runFerry(['status', out.jobId, '--job-bucket', 'cloud-jobs', '--state-machine-arn', LOCAL_STATE_MACHINE_ARN], { env });
    assert.match(text.stdout, /^execution: SUCCEEDED since \S+, ended \S+$/m);
    assert.match(text.stdout, new RegExp(`^objects: ${specs.length} of ${specs.length} \\(${specs.length} copied, 0 skipped, 0 failed\\)$`, 'm'));

    const missing = await runFerry(args, { env });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--engine aws needs --state-machine-arn and --job-bucket/);
  });
});
