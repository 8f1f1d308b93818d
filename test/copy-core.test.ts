// The copier core continuing across invocations, deterministically: each call is allowed a fixed
// number of objects (its time "runs out" after them), against the embedded endpoint.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { copyManifest } from '../lib/core/copy.ts';
import { type CopyJob, defaultTransferOptions, jobKeys } from '../lib/core/job.ts';
import { DirectoryJobStore } from '../lib/core/jobstore.ts';
import { Pool } from '../lib/core/pool.ts';
import { noProgress } from '../lib/core/progress.ts';
import { datasetSpecs, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { serverWithBuckets, tempDir } from './helpers.ts';

describe('copyManifest across invocations', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  before(async () => {
    ({ server, client } = await serverWithBuckets('core-src', 'core-dst'));
  });
  after(() => server?.stop());

  it('takes a few objects per call, leaves a checkpoint, and finishes with exact counts', async () => {
    const specs = datasetSpecs(25, []);
    await uploadDataset(client, 'core-src', specs);
    const store = new DirectoryJobStore(await tempDir());
    const job: CopyJob = {
      jobId: '20261121T000000Z-c0ffee',
      kind: 'copy',
      createdAt: new Date().toISOString(),
      source: { kind: 's3', bucket: 'core-src', prefix: '', endpoint: server.endpoint },
      destination: { kind: 's3', bucket: 'core-dst', prefix: '', endpoint: server.endpoint },
      include: [],
      exclude: [],
      dryRun: false,
      transfer: { ...defaultTransferOptions, concurrency: 1 },
      manifestMaxEntries: 1000,
      manifestMaxBytes: 1024 ** 3,
    };
    await store.put(jobKeys.job(job.jobId), JSON.stringify(job));
    const sorted = [...specs].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    const manifest = jobKeys.manifest(job.jobId, 1);
    await store.put(manifest, `${sorted.map((s) => JSON.stringify({ k: s.key, s: s.size })).join('\n')}\n`);
    const s3 = () => client;
    const pool = new Pool({ initial: 1, adaptive: false });
    let calls = 0;
    let done = false;
    while (!done) {
      calls++;
      // Time "runs out" once this call has started 4 objects (the copier always takes at least one).
      let asked = 0;
      const out = await copyManifest({ jobId: job.jobId, manifest }, { store, s3, pool, remainingMs: () => (++asked <= 4 ? 1 : -1), marginMs: 0, progress: noProgress });
      done = out.done;
      if (!done) assert.deepEqual(await readdir(path.join(store.root, job.jobId, 'checkpoints')), ['00000001.json']);
      assert.ok(calls < 50);
    }
    assert.ok(calls >= 5, `${calls} calls`);
    const result = JSON.parse((await store.get(jobKeys.result(job.jobId, manifest))) as string);
    assert.equal(result.copied, specs.length);
    assert.equal(result.failed, 0);
    assert.equal(result.bytesCopied, specs.reduce((n, s) => n + s.size, 0));
    assert.deepEqual((await verifyAgainstSpecs(client, 'core-dst', '', specs)).mismatches, []);
  });
});
