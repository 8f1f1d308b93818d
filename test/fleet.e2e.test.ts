// Fleet mode on the embedded S3 + SQS endpoint: `ferry scan` sends manifests to a real SQS queue
// (with a dead-letter queue), `ferry work` processes take them; every byte is checked. Workers are
// killed with SIGKILL and stopped with SIGTERM in the middle; nothing is lost or duplicated.
import assert from 'node:assert/strict';
import { readFile, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { bodyOf } from '../lib/local/dataset.ts';
import { createWorkQueue, type EmbeddedServer } from '../lib/local/server.ts';
import { assertPushed, listAll, localEnv, runFerry, serverWithBuckets, startFerry, tempDir, writeTree } from './helpers.ts';

const MiB = 1024 * 1024;
const FILES = [
  ...Array.from({ length: 400 }, (_, i) => ({ key: `d${i % 7}/f${String(i).padStart(4, '0')}.txt`, size: 1000 + ((i * 7919) % 60_000) })),
  { key: 'big/eleven.bin', size: 11 * MiB + 5 },
  { key: 'ünï/日本 +&.json', size: 77 },
];

/**
 * Every file copied, or skipped as already there from a worker stopped half-way (and the symlink
 * skipped by the walk); none failed.
 */
function assertAllDone(out: { objects: { total: number; copied: number; skipped: number; failed: number }; bytes: { total: number } }) {
  assert.equal(out.objects.total, FILES.length + 1);
  assert.equal(out.objects.copied + out.objects.skipped, FILES.length + 1);
  assert.ok(out.objects.copied > 0);
  assert.equal(out.objects.failed, 0);
  assert.equal(out.bytes.total, FILES.reduce((n, f) => n + f.size, 0));
}

describe('ferry scan + ferry work (fleet mode over SQS)', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let sqs: SQSClient;
  let env: NodeJS.ProcessEnv;
  let tree: string;
  const mtime = new Date('2025-06-01T08:00:00.250Z');

  before(async () => {
    ({ server, client } = await serverWithBuckets('fleet-dst', 'fleet-jobs'));
    sqs = new SQSClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    env = localEnv({ AWS_ENDPOINT_URL: server.endpoint });
    tree = path.join(await tempDir(), 'tree');
    await writeTree(tree, FILES, mtime);
    await symlink('d0', path.join(tree, 'link-to-d0')); // skipped by the walk, counted in the report
  });
  after(() => server?.stop());

  it('two workers finish a job although one is killed -9 in the middle; every file arrives once', async () => {
    const queue = await createWorkQueue(server.endpoint, 'kill', { visibilitySeconds: 3, maxReceiveCount: 5 });
    const common = ['--queue', queue, '--idle-exit', '8'];
    const scan = startFerry(['scan', tree, '--to', 's3://fleet-dst/kill', '--queue', queue, '--job-bucket', 'fleet-jobs', '--manifest-max-entries', '20', '--json'], { env });
    const doomed = startFerry(['work', ...common, '--concurrency', '2'], { env });
    await doomed.waitForStderr(/copied/);
    doomed.child.kill('SIGKILL');
    await doomed.done;
    const survivor = await runFerry(['work', ...common], { env });
    assert.equal(survivor.code, 0, survivor.stderr);
    const done = await scan.done;
    assert.equal(done.code, 0, done.stderr);
    const out = JSON.parse(done.stdout);
    // Files the killed worker had sent before it died are found unchanged at the destination and skipped.
    assertAllDone(out);
    await assertPushed(client, 'fleet-dst', 'kill/', FILES);
    const got = await client.send(new GetObjectCommand({ Bucket: 'fleet-dst', Key: 'kill/d0/f0000.txt' }));
    assert.deepEqual(got.Metadata, { mtime: (mtime.getTime() / 1000).toFixed(3), mode: '644' });

    // status reads the finished job from the job bucket, from any machine.
    const status = await runFerry(['status', out.jobId, '--job-bucket', 'fleet-jobs', '--json'], { env });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.phase, 'finished');
    assert.deepEqual(s.objects, out.objects);
    assert.equal(s.manifests.done, s.manifests.total);
  });

  it('a worker stopped with SIGTERM gives its manifests back at once and exits 0', async () => {
    const queue = await createWorkQueue(server.endpoint, 'term', { visibilitySeconds: 300, maxReceiveCount: 5 }); // only a release makes them come back in time
    const scan = await runFerry(['scan', tree, '--to', 's3://fleet-dst/term', '--queue', queue, '--job-bucket', 'fleet-jobs', '--manifest-max-entries', '20', '--no-wait', '--json'], { env });
    assert.equal(scan.code, 0, scan.stderr);
    const { jobId } = JSON.parse(scan.stdout);
    const stopped = startFerry(['work', '--queue', queue, '--concurrency', '1'], { env });
    await stopped.waitForStderr(/copied/);
    stopped.child.kill('SIGTERM');
    const end = await stopped.done;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stderr, /stopped: \d+ manifests done .* [1-9]\d* manifests given back/);
    const rest = await runFerry(['work', '--queue', queue, '--idle-exit', '3'], { env });
    assert.equal(rest.code, 0, rest.stderr);
    const follow = await runFerry(['status', jobId, '--job-bucket', 'fleet-jobs', '--wait', '--json'], { env });
    assert.equal(follow.code, 0, follow.stderr);
    assertAllDone(JSON.parse(follow.stdout));
    await assertPushed(client, 'fleet-dst', 'term/', FILES);
  });

  it('a manifest dead-lettered after too many receives is in the report, every file of it failed', async () => {
    const queue = await createWorkQueue(server.endpoint, 'dead', { visibilitySeconds: 1, maxReceiveCount: 1 });
    const scan = await runFerry(['scan', tree, '--to', 's3://fleet-dst/dead', '--queue', queue, '--job-bucket', 'fleet-jobs', '--manifest-max-entries', '100', '--no-wait', '--json'], { env });
    assert.equal(scan.code, 0, scan.stderr);
    const { jobId } = JSON.parse(scan.stdout);
    // A worker that takes the first manifest and dies before finishing it (its one allowed receive).
    const taken = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, MaxNumberOfMessages: 1 }));
    const lost = JSON.parse(taken.Messages?.[0]?.Body ?? '{}');
    await new Promise((r) => setTimeout(r, 1500));
    const worker = await runFerry(['work', '--queue', queue, '--idle-exit', '3'], { env });
    assert.equal(worker.code, 0, worker.stderr);
    const follow = await runFerry(['status', jobId, '--job-bucket', 'fleet-jobs', '--wait', '--json'], { env });
    assert.equal(follow.code, 1, follow.stderr);
    const out = JSON.parse(follow.stdout);
    const lostKeys = (lost.lines as { k: string }[]).map((l) => l.k);
    assert.equal(lostKeys.length, 100);
    assert.deepEqual(out.objects, { total: FILES.length + 1, copied: FILES.length - 100, skipped: 1, failed: 100 });
    const csv = await client.send(new GetObjectCommand({ Bucket: 'fleet-jobs', Key: `jobs/${jobId}/failures.csv` }));
    const rows = (await (csv.Body as { transformToString(): Promise<string> }).transformToString()).trim().split('\n').slice(1);
    assert.deepEqual(rows.map((r) => r.split(',')[0]).sort(), [...lostKeys].sort());
    assert.ok(rows.every((r) => r.includes(',DeadLettered,')));
    assert.deepEqual(await listAll(client, 'fleet-dst', 'dead/'), FILES.map((f) => f.key).filter((k) => !lostKeys.includes(k)).sort());
  });

  it('a manifest too large for a message travels as a pointer to the job bucket', async () => {
    const queue = await createWorkQueue(server.endpoint, 'pointer', { visibilitySeconds: 30, maxReceiveCount: 5 });
    const wide = path.join(await tempDir(), 'wide');
    // Keys of about 850 bytes: a manifest of a few hundred of them is past SQS's 256 KiB.
    const deep = Array.from({ length: 4 }, (_, i) => `${String(i)}${'-long-directory-name'.repeat(10)}`).join('/');
    const files = Array.from({ length: 2000 }, (_, i) => ({ key: `${deep}/file-${String(i).padStart(5, '0')}.txt`, size: 10 + (i % 50) }));
    await writeTree(wide, files, mtime);
    const scan = await runFerry(['scan', wide, '--to', 's3://fleet-dst/pointer', '--queue', queue, '--job-bucket', 'fleet-jobs', '--manifest-max-entries', '5000', '--no-wait', '--json'], { env });
    assert.equal(scan.code, 0, scan.stderr);
    const { jobId, manifests } = JSON.parse(scan.stdout);
    const peeked = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, MaxNumberOfMessages: 10 }));
    const messages = peeked.Messages ?? [];
    assert.equal(messages.length, manifests);
    const bodies = messages.map((m) => JSON.parse(m.Body ?? '{}'));
    assert.ok(bodies.some((b) => b.lines === undefined && b.manifest.startsWith(`${jobId}/manifests/`)), 'a manifest sent as a pointer');
    for (const m of messages) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queue, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    const worker = await runFerry(['work', '--queue', queue, '--idle-exit', '3'], { env });
    assert.equal(worker.code, 0, worker.stderr);
    const follow = await runFerry(['status', jobId, '--job-bucket', 'fleet-jobs', '--wait', '--json'], { env });
    assert.equal(follow.code, 0, follow.stderr);
    assert.deepEqual(JSON.parse(follow.stdout).objects, { total: files.length, copied: files.length, skipped: 0, failed: 0 });
    await assertPushed(client, 'fleet-dst', 'pointer/', files);
  });

  it('pulls through the queue too: scan s3:// --to DIR, and workers write the files', async () => {
    const queue = await createWorkQueue(server.endpoint, 'pull', { visibilitySeconds: 30, maxReceiveCount: 5 });
    const dir = path.join(await tempDir(), 'restored');
    const scan = startFerry(['scan', 's3://fleet-dst/kill', '--to', dir, '--queue', queue, '--job-bucket', 'fleet-jobs', '--manifest-max-entries', '50', '--json'], { env });
    const worker = await runFerry(['work', '--queue', queue, '--idle-exit', '4'], { env });
    assert.equal(worker.code, 0, worker.stderr);
    const done = await scan.done;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(JSON.parse(done.stdout).objects.copied, FILES.length);
    for (const f of FILES) {
      const file = path.join(dir, f.key);
      assert.ok((await readFile(file)).equals(bodyOf(f)), f.key);
      assert.equal((await stat(file)).mtime.getTime(), mtime.getTime(), f.key);
    }
  });

  it('refuses a missing queue, a missing job bucket, and a scan without them, in one line', async () => {
    const base = ['scan', tree, '--to', 's3://fleet-dst/x'];
    const noQueue = await runFerry([...base, '--job-bucket', 'fleet-jobs'], { env });
    assert.equal(noQueue.code, 2);
    assert.match(noQueue.stderr, /^ferry: scan needs --queue URL/);
    const queue = await createWorkQueue(server.endpoint, 'bad', { visibilitySeconds: 30, maxReceiveCount: 5 });
    const noBucket = await runFerry([...base, '--queue', queue], { env });
    assert.equal(noBucket.code, 2);
    assert.match(noBucket.stderr, /--job-bucket/);
    const wrongBucket = await runFerry([...base, '--queue', queue, '--job-bucket', 'no-such-bucket'], { env });
    assert.equal(wrongBucket.code, 2, wrongBucket.stderr);
    assert.equal(wrongBucket.stderr, 'ferry: --job-bucket no-such-bucket: bucket does not exist\n');
    const wrongQueue = await runFerry([...base, '--queue', `${server.endpoint}/000000000000/no-such-queue`, '--job-bucket', 'fleet-jobs'], { env });
    assert.equal(wrongQueue.code, 2, wrongQueue.stderr);
    assert.match(wrongQueue.stderr, /^ferry: --queue .*no-such-queue: the queue does not exist\n$/);
    const worker = await runFerry(['work', '--queue', `${server.endpoint}/000000000000/no-such-queue`], { env });
    assert.equal(worker.code, 2, worker.stderr);
  });
});
