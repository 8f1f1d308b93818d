// The deployable Lambda handlers (middy-wrapped, configured from the environment, S3 job store),
// driven by the local engine over the same ASL, against the embedded endpoint: what runs in the
// cloud, minus AWS itself. Each invocation gets a small time budget, as from a Lambda context.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { COPY_DEFINITION, executionInput } from '../lib/local/run-copy.ts';
import { type CopyJob, defaultTransferOptions, MiB } from '../lib/core/job.ts';
import { datasetSpecs, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import { LocalEngine } from '../lib/local/engine.ts';
import type { Json } from '../lib/local/jsonpath.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { serverWithBuckets } from './helpers.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

function lambdaContext(budgetMs: number): Context {
  const deadline = Date.now() + budgetMs;
  return { getRemainingTimeInMillis: () => deadline - Date.now(), functionName: 'test' } as unknown as Context;
}

describe('Lambda handlers on the copy state machine', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  before(async () => {
    ({ server, client } = await serverWithBuckets('job-store', 'lam-src', 'lam-dst'));
    Object.assign(process.env, {
      FERRY_JOB_BUCKET: 'job-store',
      FERRY_MARGIN_MS: '0',
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  });
  after(() => server.stop());

  it('plan, copy and report through the S3 job store, continuing across 20 ms invocations', async () => {
    const plan = (await import('../lambdas/plan/handler.ts')).handler as unknown as Handler;
    const copy = (await import('../lambdas/copy/handler.ts')).handler as unknown as Handler;
    const report = (await import('../lambdas/report/handler.ts')).handler as unknown as Handler;
    const remove = (await import('../lambdas/delete/handler.ts')).handler as unknown as Handler;
    const specs = datasetSpecs(150, [6 * MiB]);
    await uploadDataset(client, 'lam-src', specs, 'p/');
    const job: CopyJob = {
      jobId: '20261121T000000Z-abcdef',
      kind: 'copy',
      createdAt: new Date().toISOString(),
      source: { kind: 's3', bucket: 'lam-src', prefix: 'p/' },
      destination: { kind: 's3', bucket: 'lam-dst', prefix: 'q/' },
      include: [],
      exclude: [],
      dryRun: false,
      transfer: { ...defaultTransferOptions, multipartThreshold: 5 * MiB, partSize: 5 * MiB },
      manifestMaxEntries: 40,
      manifestMaxBytes: 1024 * MiB,
    };
    await client.send(new PutObjectCommand({ Bucket: 'job-store', Key: `jobs/${job.jobId}/job.json`, Body: JSON.stringify(job) }));
    const invoke = (h: Handler) => async (input: Json) => (await h(input, lambdaContext(20))) as Json;
    const engine = new LocalEngine({
      functions: { PlanFunctionArn: invoke(plan), CopyFunctionArn: invoke(copy), DeleteFunctionArn: invoke(remove), ReportFunctionArn: invoke(report) },
      readObject: async (Bucket, Key) => {
        const got = await client.send(new GetObjectCommand({ Bucket, Key }));
        return (await got.Body?.transformToString()) ?? '';
      },
      writeObject: async (Bucket, Key, Body) => {
        await client.send(new PutObjectCommand({ Bucket, Key, Body }));
      },
    });
    // The copier's embedded metrics (EMF lines on stdout, as Lambda sends them to CloudWatch).
    const emf: Record<string, unknown>[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = String(chunk);
      if (text.startsWith('{"_aws"')) emf.push(JSON.parse(text));
      return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    }) as typeof process.stdout.write;
    const out = (await engine.run(COPY_DEFINITION, executionInput(job)).finally(() => (process.stdout.write = write))) as Record<string, Json>;
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
    assert.deepEqual((await verifyAgainstSpecs(client, 'lam-dst', 'q/', specs)).mismatches, []);
    // One line per copier invocation that did something; together they count the job exactly.
    assert.ok(emf.length >= Math.ceil(specs.length / 40), `${emf.length} EMF lines`);
    const sum = (name: string) => emf.reduce((n, d) => n + (d[name] as number), 0);
    assert.equal(sum('ObjectsCopied'), specs.length);
    assert.equal(sum('BytesCopied'), specs.reduce((n, o) => n + o.size, 0));
    assert.equal(sum('ObjectsFailed'), 0);
    for (const d of emf) {
      assert.equal(d.JobId, job.jobId);
      const [directive] = (d._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] }).CloudWatchMetrics;
      assert.equal(directive!.Namespace, 'ferry');
      assert.deepEqual(directive!.Dimensions, [['JobId'], []]);
      assert.deepEqual(directive!.Metrics.map((m) => m.Name).sort(), ['BytesCopied', 'ObjectsCopied', 'ObjectsFailed', 'ObjectsSkipped', 'Retries', 'Throttles']);
    }

    const stored = await client.send(new GetObjectCommand({ Bucket: 'job-store', Key: `jobs/${job.jobId}/report.json` }));
    assert.equal(JSON.parse((await stored.Body?.transformToString()) ?? '{}').objects.copied, specs.length);
  });

  it('a failed Distributed Map is caught and reported: every object NotCopied, the error named', async () => {
    const plan = (await import('../lambdas/plan/handler.ts')).handler as unknown as Handler;
    const copy = (await import('../lambdas/copy/handler.ts')).handler as unknown as Handler;
    const report = (await import('../lambdas/report/handler.ts')).handler as unknown as Handler;
    const remove = (await import('../lambdas/delete/handler.ts')).handler as unknown as Handler;
    const specs = datasetSpecs(30, []);
    await uploadDataset(client, 'lam-src', specs, 'm/');
    const job: CopyJob = {
      jobId: '20261121T000000Z-fa11ed',
      kind: 'copy',
      createdAt: new Date().toISOString(),
      source: { kind: 's3', bucket: 'lam-src', prefix: 'm/' },
      destination: { kind: 's3', bucket: 'lam-dst', prefix: 'never/' },
      include: [],
      exclude: [],
      dryRun: false,
      transfer: defaultTransferOptions,
      manifestMaxEntries: 10,
      manifestMaxBytes: 1024 * MiB,
    };
    await client.send(new PutObjectCommand({ Bucket: 'job-store', Key: `jobs/${job.jobId}/job.json`, Body: JSON.stringify(job) }));
    const invoke = (h: Handler) => async (input: Json) => (await h(input, lambdaContext(10_000))) as Json;
    const engine = new LocalEngine({
      functions: { PlanFunctionArn: invoke(plan), CopyFunctionArn: invoke(copy), DeleteFunctionArn: invoke(remove), ReportFunctionArn: invoke(report) },
      // The ItemReader cannot read the manifest index (as when the state machine's role lacks s3:GetObject).
      readObject: async () => {
        throw Object.assign(new Error('Access Denied reading the manifest index'), { name: 'States.ItemReaderFailed' });
      },
      writeObject: async () => {},
    });
    const out = (await engine.run(COPY_DEFINITION, executionInput(job))) as Record<string, Json>;
    assert.equal(out.status, 'failed');
    assert.deepEqual(out.objects, { total: specs.length, copied: 0, skipped: 0, failed: specs.length });
    assert.deepEqual(out.failuresByCode, { NotCopied: specs.length });
    assert.equal(out.error, 'States.ItemReaderFailed: Access Denied reading the manifest index');
  });

  it('a sync with --delete through the handlers: only what differs copied, extras deleted by the Delete step', async () => {
    const [plan, copy, remove, report] = await Promise.all(
      ['plan', 'copy', 'delete', 'report'].map(async (f) => (await import(`../lambdas/${f}/handler.ts`)).handler as unknown as Handler),
    );
    for (let i = 0; i < 20; i++) await client.send(new PutObjectCommand({ Bucket: 'lam-src', Key: `s/${i}`, Body: `v${i}` }));
    await new Promise((r) => setTimeout(r, 1100)); // the destination's copies are written in a later second
    for (let i = 0; i < 10; i++) await client.send(new PutObjectCommand({ Bucket: 'lam-dst', Key: `t/${i}`, Body: `v${i}` }));
    for (let i = 0; i < 5; i++) await client.send(new PutObjectCommand({ Bucket: 'lam-dst', Key: `t/extra${i}`, Body: 'x' }));
    const job: CopyJob = {
      jobId: '20261121T000000Z-5ync00',
      kind: 'copy',
      createdAt: new Date().toISOString(),
      source: { kind: 's3', bucket: 'lam-src', prefix: 's/' },
      destination: { kind: 's3', bucket: 'lam-dst', prefix: 't/' },
      include: [],
      exclude: [],
      dryRun: false,
      transfer: defaultTransferOptions,
      manifestMaxEntries: 4,
      manifestMaxBytes: 1024 * MiB,
      sync: { compare: 'time', delete: true, maxDeletePercent: 50, force: false },
    };
    await client.send(new PutObjectCommand({ Bucket: 'job-store', Key: `jobs/${job.jobId}/job.json`, Body: JSON.stringify(job) }));
    const invoke = (h: Handler) => async (input: Json) => (await h(input, lambdaContext(20))) as Json;
    const engine = new LocalEngine({
      functions: { PlanFunctionArn: invoke(plan), CopyFunctionArn: invoke(copy), DeleteFunctionArn: invoke(remove), ReportFunctionArn: invoke(report) },
      readObject: async (Bucket, Key) => (await (await client.send(new GetObjectCommand({ Bucket, Key }))).Body?.transformToString()) ?? '',
      writeObject: async (Bucket, Key, Body) => {
        await client.send(new PutObjectCommand({ Bucket, Key, Body }));
      },
    });
    const out = (await engine.run(COPY_DEFINITION, executionInput(job))) as Record<string, Json>;
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.objects, { total: 20, copied: 10, skipped: 10, failed: 0 });
    assert.deepEqual(out.deletes, { planned: 5, deleted: 5, failed: 0 });
    const left = await client.send(new ListObjectsV2Command({ Bucket: 'lam-dst', Prefix: 't/' }));
    assert.deepEqual(
      (left.Contents ?? []).map((o) => o.Key).sort(),
      Array.from({ length: 20 }, (_, i) => `t/${i}`).sort(),
    );
  });

  it('rejects events with unknown or missing fields', async () => {
    const copy = (await import('../lambdas/copy/handler.ts')).handler as unknown as Handler;
    await assert.rejects(copy({ jobId: 'x', manifest: 'y', surprise: 1 }, lambdaContext(1000)), {
      name: 'BadInputError',
      message: 'event has unknown field "surprise"',
    });
    await assert.rejects(copy({ jobId: 'x' }, lambdaContext(1000)), { name: 'BadInputError', message: 'event has no "manifest"' });
  });
});
