// ferry plan --estimate: the figures of small jobs computed by hand, and the requests it predicts
// for a copy and a push counted against the requests the real copy and push then send.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { defaultTransferOptions as DEFAULT_TRANSFER } from '../lib/core/job.ts';
import { type Estimate, estimate, noRequests, type Requests } from '../lib/core/estimate.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { runFerry, serverWithBuckets, tempDir } from './helpers.ts';
import { startFaultProxy } from './proxy.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * 1e-9 + 1e-12, `${what}: ${actual} != ${expected}`);

describe('the estimate of small jobs, against figures computed by hand', () => {
  it('a cloud copy between regions: a small object, one of 100 MiB, one of 6 GiB', async () => {
    const e = await estimate({
      route: 'server-side',
      engine: 'aws',
      manifests: [
        [
          { k: 'a/1', s: 1000 },
          { k: 'a/2', s: 100 * MiB },
        ],
        [{ k: 'b/3', s: 6 * GiB }],
      ],
      listed: [3],
      ranges: 1,
      deletes: 0,
      regions: { source: 'us-east-1', destination: 'eu-west-1' },
      transfer: DEFAULT_TRANSFER,
    });
    // 1000 B: one CopyObject. 100 MiB: 64 MiB parts, so 2 UploadPartCopy, with a one-byte GET, a
    // Create, a Complete and a HEAD. 6 GiB: 96 parts of 64 MiB and the same four. One LIST page.
    assert.deepEqual(e.requests, {
      ...noRequests(),
      LIST: 1,
      CopyObject: 1,
      CreateMultipartUpload: 2,
      UploadPartCopy: 98,
      CompleteMultipartUpload: 2,
      GET: 2,
      HEAD: 2,
    });
    // 104 writes at $0.005 and 4 reads at $0.0004 a thousand.
    close(e.requestDollars, (104 * 0.005 + 4 * 0.0004) / 1000, 'S3 requests');
    assert.equal(e.bytes, 6547309544);
    // 6,547,309,544 B = 6.0976571813 GB, $0.02 a GB between regions.
    assert.equal(e.transfer.kind, 'between regions');
    close(e.transfer.dollars, 0.1219531436264515, 'transfer');
    // Copier seconds: manifest 1 (0.05 + 1000/50e6 + 6 x 0.05 + 100 MiB/50e6) / 64 = 0.0382370625;
    // manifest 2 (100 x 0.05 + 6 GiB/50e6) / 64 = 2.09139092. Planner 1 page x 0.2 s; reporter 1 + 2 x 0.05/32.
    // (0.2 + 2.1296279825 + 1.003125) s x 1769/1024 GB = 5.757460962932 GB-s; 4 invocations.
    assert.equal(e.lambda?.invocations, 4);
    close(e.lambda?.gbSeconds ?? 0, 5.757460962932129, 'GB-seconds');
    close(e.lambda?.dollars ?? 0, 5.757460962932129 * 0.0000133334 + (4 / 1e6) * 0.2, 'Lambda');
    // Plan, Planned?, Copy, Delete?, Report, and per manifest CopyManifest, ManifestDone?, ManifestCopied.
    assert.equal(e.stepFunctions?.transitions, 11);
    close(e.stepFunctions?.dollars ?? 0, 0.000275, 'Step Functions');
    assert.deepEqual({ writes: e.jobStore.writes, reads: e.jobStore.reads }, { writes: 8, reads: 5 });
    assert.equal(e.sqs, undefined);
    close(e.dollars, 0.12286931015645465, 'total');
    // 0.2 s planning + 2.1296279825 s over 2 copiers + 1.003125 s report.
    assert.equal(e.copiers, 2);
    close(e.seconds, 2.26793899125, 'duration');
    // DataSync Enhanced: $0.55 + 6.0976571813 GB x $0.015, and at least a LIST, 3 GETs and 3 PUTs, and the transfer.
    assert.equal(e.dataSync?.mode, 'Enhanced');
    close(e.dataSync?.fee ?? 0, 0.6414648577198386, 'DataSync fee');
    close(e.dataSync?.dollars ?? 0, 0.7634392013462902, 'DataSync');
    // Batch Operations: $0.25 + 3 objects at $1 a million; it copies 2 (the 6 GiB one is over 5 GB).
    assert.equal(e.batchOperations?.tooLarge, 1);
    close(e.batchOperations?.fee ?? 0, 0.250003, 'Batch Operations fee');
    close(e.batchOperations?.dollars ?? 0, 0.37197114362645145, 'Batch Operations');
  });

  it('a pull of 2,000 objects of 1 MiB: GETs and transfer to the internet, no Lambda', async () => {
    const manifest = (n: number) => Array.from({ length: 1000 }, (_, i) => ({ k: `p${n}/${i}`, s: MiB }));
    const e = await estimate({ route: 'pull', engine: 'local', manifests: [manifest(1), manifest(2)], listed: [2000], ranges: 1, deletes: 0, transfer: DEFAULT_TRANSFER });
    assert.deepEqual(e.requests, { ...noRequests(), LIST: 2, GET: 2000 });
    // 2,000 MiB = 1.953125 GB at $0.09.
    assert.equal(e.transfer.kind, 'to the internet');
    close(e.transfer.dollars, 0.17578125, 'transfer');
    assert.equal(e.lambda, undefined);
    assert.equal(e.stepFunctions, undefined);
    close(e.dollars, (2 * 0.005 + 2000 * 0.0004) / 1000 + 0.17578125, 'total');
    // Per manifest: (1000 x 0.05 + 1000 MiB/50e6) / 64 = 1.09894 s by the pool, 1000 MiB/125e6 = 8.388608 s by bandwidth.
    close(e.seconds, 2 * 0.2 / 1 + 2 * 8.388608, 'duration');
    assert.equal(e.dataSync?.mode, 'Basic');
    close(e.dataSync?.fee ?? 0, 1.953125 * 0.0125, 'DataSync fee');
    assert.equal(e.batchOperations, undefined);
  });

  it('a push of 3,000 small files: PUTs, and SQS when run as a fleet', async () => {
    const manifest = (n: number) => Array.from({ length: 1000 }, (_, i) => ({ k: `d${n}/${i}`, s: 4096 }));
    const e = await estimate({ route: 'push', engine: 'local', manifests: [manifest(1), manifest(2), manifest(3)], listed: [0], ranges: 1, deletes: 0, transfer: DEFAULT_TRANSFER });
    assert.deepEqual(e.requests, { ...noRequests(), LIST: 1, PutObject: 3000 });
    assert.equal(e.transfer.kind, 'in');
    assert.equal(e.transfer.dollars, 0);
    // SendMessage, ReceiveMessage and DeleteMessage per manifest; each is done well within a heartbeat.
    // The total counts them (a push of this size is what fleets are for).
    assert.deepEqual(e.sqs, { requests: 9, dollars: (9 / 1e6) * 0.4 });
    close(e.dollars, (1 * 0.005 + 3000 * 0.005) / 1000 + (9 / 1e6) * 0.4, 'total');
  });
});

/** The kind of each S3 request a proxy saw (path-style URLs), as the estimate names them. */
function kindOf(method: string, url: string, serverSide: boolean): keyof Requests | 'other' {
  const [pathPart, query = ''] = url.split('?');
  const objectLevel = (pathPart as string).split('/').filter(Boolean).length > 1;
  const q = new URLSearchParams(query);
  if (!objectLevel) return method === 'GET' && q.has('list-type') ? 'LIST' : method === 'POST' && q.has('delete') ? 'DeleteObjects' : 'other';
  if (method === 'PUT' && q.has('partNumber')) return serverSide ? 'UploadPartCopy' : 'UploadPart';
  if (method === 'PUT') return serverSide ? 'CopyObject' : 'PutObject';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'GET') return 'GET';
  if (method === 'HEAD') return 'HEAD';
  return 'other';
}

/** The object-level requests only: a listing's pages depend on the preflight and key ranges too. */
function objectRequests(r: Requests): Partial<Requests> {
  const { LIST: _list, DeleteObjects: _deletes, ...rest } = r;
  return Object.fromEntries(Object.entries(rest).filter(([, n]) => n > 0));
}

describe('ferry plan --estimate against what the job then sends', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  before(async () => {
    ({ server, client } = await serverWithBuckets('est-src', 'est-dst', 'est-push'));
    // 40 small objects in 4 prefixes and one of 10 MiB: two 5 MiB part copies with these options.
    for (let i = 0; i < 40; i++) {
      await client.send(new PutObjectCommand({ Bucket: 'est-src', Key: `p${i % 4}/obj-${i}`, Body: Buffer.alloc(100 + i, i) }));
    }
    await client.send(new PutObjectCommand({ Bucket: 'est-src', Key: 'big/ten', Body: Buffer.alloc(10 * MiB, 7) }));
  });
  after(() => server.stop());

  it('a copy between buckets: the requests predicted are the requests sent', async () => {
    const options = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    const planned = await runFerry(['plan', 's3://est-src', 's3://est-dst', '--endpoint-url', server.endpoint, '--estimate', '--json', ...options]);
    assert.equal(planned.code, 0, planned.stderr);
    const e = (JSON.parse(planned.stdout) as { estimate: Estimate }).estimate;
    assert.equal(e.objects, 41);
    assert.equal(e.bytes, 40 * 100 + (39 * 40) / 2 + 10 * MiB);
    assert.deepEqual(objectRequests(e.requests), { CopyObject: 40, CreateMultipartUpload: 1, UploadPartCopy: 2, CompleteMultipartUpload: 1, GET: 1, HEAD: 1 });
    // Both sides listed: one page each.
    assert.equal(e.requests.LIST, 2);
    assert.equal(e.lambda, undefined, 'run locally there is no Lambda');

    // The same plan in words.
    const text = await runFerry(['plan', 's3://est-src', 's3://est-dst', '--endpoint-url', server.endpoint, '--estimate', ...options]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.ok(lines.includes('estimate, in this process (--engine local), at us-east-1 list prices read 2026-11-21:'), text.stdout);
    assert.ok(lines.includes('  S3 requests:    LIST 2, CopyObject 40, CreateMultipartUpload 1, UploadPartCopy 2, CompleteMultipartUpload 1, GET 1, HEAD 1: <$0.01'), text.stdout);
    assert.ok(lines.includes('  data transfer:  none (both buckets taken to be in one region; S3 did not say): $0.00'), text.stdout);
    assert.ok(lines.some((l) => /^ {2}expected duration: about \d+ s at 64 requests in flight/.test(l)), text.stdout);
    assert.ok(lines.some((l) => /^ {2}on DataSync \(Enhanced mode\): \$0\.55 /.test(l)), text.stdout);
    assert.ok(lines.some((l) => /^ {2}on S3 Batch Operations \(Copy\): \$0\.25 /.test(l)), text.stdout);

    const seen = noRequests();
    let listings = 0;
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      const kind = kindOf(req.method, req.url, true);
      if (kind === 'LIST') listings++;
      else if (kind !== 'other') seen[kind]++;
      return 'pass';
    });
    try {
      const copied = await runFerry(['copy', 's3://est-src', 's3://est-dst', '--endpoint-url', proxy.endpoint, '--json', ...options]);
      assert.equal(copied.code, 0, copied.stderr);
      assert.equal((JSON.parse(copied.stdout) as { objects: { copied: number } }).objects.copied, 41);
    } finally {
      await proxy.stop();
    }
    assert.deepEqual(objectRequests(seen), objectRequests(e.requests));
    assert.ok(listings >= e.requests.LIST, `listed in ${listings} requests`);

  });

  it('a push: the PUTs and parts predicted are those sent', async () => {
    const dir = await tempDir();
    for (let i = 0; i < 25; i++) await writeFile(path.join(dir, `f-${i}.txt`), `file ${i}\n`.repeat(i + 1));
    await writeFile(path.join(dir, 'large.bin'), Buffer.alloc(10 * MiB, 3));
    const planned = await runFerry(['plan', dir, 's3://est-push/up', '--endpoint-url', server.endpoint, '--estimate', '--json']);
    assert.equal(planned.code, 0, planned.stderr);
    const e = (JSON.parse(planned.stdout) as { estimate: Estimate }).estimate;
    assert.equal(e.objects, 26);
    // 10 MiB over the 8 MiB threshold: two 8 MiB parts, a Create, a Complete, a HEAD.
    assert.deepEqual(objectRequests(e.requests), { PutObject: 25, CreateMultipartUpload: 1, UploadPart: 2, CompleteMultipartUpload: 1, HEAD: 1 });
    assert.equal(e.sqs?.requests, 3);

    const seen = noRequests();
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      const kind = kindOf(req.method, req.url, false);
      if (kind !== 'other' && kind !== 'LIST') seen[kind]++;
      return 'pass';
    });
    try {
      const pushed = await runFerry(['copy', dir, 's3://est-push/up', '--endpoint-url', proxy.endpoint, '--json']);
      assert.equal(pushed.code, 0, pushed.stderr);
    } finally {
      await proxy.stop();
    }
    assert.deepEqual(objectRequests(seen), objectRequests(e.requests));
  });

  it('refuses --estimate on a restore, in one line', async () => {
    const run = await runFerry(['plan', 's3://est-src', 's3://est-dst', '--endpoint-url', server.endpoint, '--restore', '--estimate']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, /--estimate prices copies and syncs/);
  });
});
