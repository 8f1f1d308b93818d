// ferry sync and ferry plan, s3 -> s3, end to end: the real CLI, the local engine (the same state
// machine as the cloud's, with its Delete step), the embedded S3 endpoint over sockets.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { deleteExtra } from '../lib/core/delete.ts';
import { type CopyJob, jobKeys } from '../lib/core/job.ts';
import { DirectoryJobStore } from '../lib/core/jobstore.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { listAll, localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';

// S3's LastModified has whole seconds: a sync treats the same second as "cannot tell" and copies
// again, so the tests let a second pass between writing a side and syncing it.
const nextSecond = () => new Promise((r) => setTimeout(r, 1100));

async function bodyAt(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function put(client: S3Client, bucket: string, key: string, body: string): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Every key under the prefixes is on both sides with the same bytes. */
async function assertSame(client: S3Client, src: [string, string], dst: [string, string]): Promise<string[]> {
  const keys = await listAll(client, ...src);
  assert.deepEqual(await listAll(client, ...dst), keys);
  for (const k of keys) assert.ok((await bodyAt(client, src[0], src[1] + k)).equals(await bodyAt(client, dst[0], dst[1] + k)), k);
  return keys;
}

describe('ferry sync s3 -> s3', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let env: NodeJS.ProcessEnv;
  // Keys that sort differently in UTF-16 and in UTF-8 (Ａ is U+FF21, 😀 is above U+FFFF), spaces and signs.
  const keys = Array.from({ length: 120 }, (_, i) => `d${i % 4}/${['Ａ', '😀', 'a b', 'x+y&z', 'é'][i % 5]}-${i}`);

  before(async () => {
    ({ server, client } = await serverWithBuckets('src', 'dst', 'src-t', 'dst-t', 'src-c', 'dst-c', 'src-b', 'dst-b', 'src-v', 'dst-v', 'src-r', 'dst-r', 'dst-r2', 'src-f', 'dst-f'));
    env = localEnv({ AWS_ENDPOINT_URL: server.endpoint });
  });
  after(() => server.stop());

  it('copies what is missing or changed, skips the rest, deletes what the source lost with --delete', async () => {
    const jobDir = await tempDir();
    for (const k of keys) await put(client, 'src', `in/${k}`, `first ${k}`);
    await put(client, 'dst', 'out/zz-stale', 'left from before'); // only at the destination
    await nextSecond();

    const first = await runFerry(['sync', 's3://src/in', 's3://dst/out', '--json', '--job-dir', jobDir], { env });
    assert.equal(first.code, 0, first.stderr);
    const r1 = JSON.parse(first.stdout);
    assert.deepEqual(r1.objects, { total: 120, copied: 120, skipped: 0, failed: 0 });
    assert.equal(r1.deletes, undefined, 'no --delete, no deletions');
    const report1 = JSON.parse(await readFile(r1.reportPath, 'utf8'));
    assert.equal(report1.destinationOnly, 1);
    assert.deepEqual(await listAll(client, 'dst', 'out/'), [...keys, 'zz-stale'].sort());
    await nextSecond();

    // Changes: 5 grown, 5 rewritten at the same size, 5 new, 5 deleted from the source.
    for (const k of keys.slice(0, 5)) await put(client, 'src', `in/${k}`, `first ${k} and more`);
    for (const k of keys.slice(5, 10)) await put(client, 'src', `in/${k}`, `FIRST ${k}`);
    for (let i = 0; i < 5; i++) await put(client, 'src', `in/new/${i}`, `new ${i}`);
    for (const k of keys.slice(10, 15)) await client.send(new DeleteObjectCommand({ Bucket: 'src', Key: `in/${k}` }));
    await nextSecond();

    // plan: what a sync would do, counted, and nothing changed.
    const planned = await runFerry(['plan', 's3://src/in', 's3://dst/out', '--delete', '--job-dir', jobDir], { env });
    assert.equal(planned.code, 0, planned.stderr);
    assert.match(planned.stdout, /^copy: +15 objects, .* \(5 not at the destination, 5 sizes differ, 5 changed since the destination was written\)$/m);
    assert.match(planned.stdout, /^unchanged: 105 objects$/m);
    assert.match(planned.stdout, /^only at the destination: 6 objects; to delete \(--delete\)$/m);
    // --dry-run lists each action.
    const dry = await runFerry(['sync', 's3://src/in', 's3://dst/out', '--delete', '--dry-run', '--job-dir', jobDir], { env });
    assert.equal(dry.code, 0, dry.stderr);
    const actions = dry.stdout.trim().split('\n');
    assert.equal(actions.length, 21);
    assert.ok(actions.includes(`copy ${keys[0]} (sizes differ)`));
    assert.ok(actions.includes(`copy ${keys[5]} (changed since the destination was written)`));
    assert.ok(actions.includes('copy new/0 (not at the destination)'));
    assert.ok(actions.includes(`delete ${keys[10]}`) && actions.includes('delete zz-stale'));
    assert.equal((await bodyAt(client, 'dst', `out/${keys[0]}`)).toString(), `first ${keys[0]}`, 'the dry run changed nothing');

    // Without --delete: the changes are copied, the extras kept.
    const second = await runFerry(['sync', 's3://src/in', 's3://dst/out', '--json', '--job-dir', jobDir], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).objects, { total: 120, copied: 15, skipped: 105, failed: 0 });
    assert.equal((await listAll(client, 'dst', 'out/')).length, 126);
    await nextSecond();

    // With --delete: nothing left to copy; the 6 extras go (6 of 126 is within the default 50%).
    const third = await runFerry(['sync', 's3://src/in', 's3://dst/out', '--delete', '--json', '--job-dir', jobDir], { env });
    assert.equal(third.code, 0, third.stderr);
    const r3 = JSON.parse(third.stdout);
    assert.deepEqual(r3.objects, { total: 120, copied: 0, skipped: 120, failed: 0 });
    assert.deepEqual(r3.deletes, { planned: 6, deleted: 6, failed: 0 });
    assert.equal((await assertSame(client, ['src', 'in/'], ['dst', 'out/'])).length, 120);
  });

  it('plans, copies and deletes across invocations of 1 ms, with manifests of 7 keys, losing and doubling nothing', async () => {
    const jobDir = await tempDir();
    for (let i = 0; i < 200; i++) await put(client, 'src-b', `p/${keys[i % keys.length]}/${i}`, `body ${i}`);
    for (let i = 0; i < 200; i += 2) await put(client, 'dst-b', `q/${keys[i % keys.length]}/${i}`, `body ${i}`);
    for (let i = 0; i < 20; i++) await put(client, 'dst-b', `q/${keys[i]}/extra`, 'extra');
    await nextSecond();
    const run = await runFerry(
      ['sync', 's3://src-b/p', 's3://dst-b/q', '--delete', '--invocation-ms', '1', '--manifest-max-entries', '7', '--json', '--job-dir', jobDir],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    const r = JSON.parse(run.stdout);
    assert.deepEqual(r.objects, { total: 200, copied: 100, skipped: 100, failed: 0 });
    assert.deepEqual(r.deletes, { planned: 20, deleted: 20, failed: 0 });
    const report = JSON.parse(await readFile(r.reportPath, 'utf8'));
    assert.ok(report.manifests >= 15, `${report.manifests} manifests of at most 7 keys`);
    assert.equal((await assertSame(client, ['src-b', 'p/'], ['dst-b', 'q/'])).length, 200);
  });

  it('a source of many pages is listed in key ranges at once: copy and sync lose and double nothing', async () => {
    const jobDir = await tempDir();
    const key = (i: number) => `p${i % 30}/k${i}`;
    for (let i = 0; i < 1200; i++) await put(client, 'src-r', key(i), `body ${i}`);
    await nextSecond();
    for (let i = 0; i < 1200; i += 3) await put(client, 'dst-r', key(i), `body ${i}`);
    for (let i = 0; i < 40; i++) await put(client, 'dst-r', `p${i % 20}/zz-extra${i}`, 'extra');
    await put(client, 'dst-r', 'zzz-top-extra', 'extra');
    await nextSecond();

    const copied = await runFerry(['copy', 's3://src-r', 's3://dst-r2', '--json', '--job-dir', jobDir], { env });
    assert.equal(copied.code, 0, copied.stderr);
    const c = JSON.parse(copied.stdout);
    assert.deepEqual(c.objects, { total: 1200, copied: 1200, skipped: 0, failed: 0 });
    const ranges = JSON.parse(await readFile(path.join(path.dirname(c.reportPath), 'plan.json'), 'utf8')).ranges;
    assert.ok(ranges.length > 8, `${ranges.length} ranges`);
    assert.ok(ranges.every((r: { done: boolean }) => r.done));
    assert.deepEqual(await listAll(client, 'dst-r2', ''), await listAll(client, 'src-r', ''));

    const run = await runFerry(['sync', 's3://src-r', 's3://dst-r', '--delete', '--invocation-ms', '300', '--json', '--job-dir', jobDir], { env });
    assert.equal(run.code, 0, run.stderr);
    const r = JSON.parse(run.stdout);
    assert.deepEqual(r.objects, { total: 1200, copied: 800, skipped: 400, failed: 0 });
    assert.deepEqual(r.deletes, { planned: 41, deleted: 41, failed: 0 });
    assert.equal((await assertSame(client, ['src-r', ''], ['dst-r', ''])).length, 1200);
  });

  it('a flat key space (no prefixes) is split at sampled keys', async () => {
    const jobDir = await tempDir();
    const keys = Array.from({ length: 1200 }, (_, i) => createHash('md5').update(String(i)).digest('hex'));
    for (const k of keys) await put(client, 'src-f', k, `body of ${k}`);
    const run = await runFerry(['copy', 's3://src-f', 's3://dst-f', '--json', '--job-dir', jobDir], { env });
    assert.equal(run.code, 0, run.stderr);
    const r = JSON.parse(run.stdout);
    assert.deepEqual(r.objects, { total: 1200, copied: 1200, skipped: 0, failed: 0 });
    const ranges = JSON.parse(await readFile(path.join(path.dirname(r.reportPath), 'plan.json'), 'utf8')).ranges;
    assert.ok(ranges.length >= 16, `${ranges.length} ranges for hex keys`);
    assert.equal((await assertSame(client, ['src-f', ''], ['dst-f', ''])).length, 1200);
  });

  it('refuses to delete more than --max-delete of the destination unless told, and never deletes excluded keys', async () => {
    const jobDir = await tempDir();
    for (let i = 0; i < 10; i++) await put(client, 'src-t', `k${i}`, `v${i}`);
    for (let i = 0; i < 30; i++) await put(client, 'dst-t', `old/${i}`, `old ${i}`);
    for (let i = 0; i < 3; i++) await put(client, 'dst-t', `keep/${i}.log`, 'excluded');
    await nextSecond();

    const refused = await runFerry(['sync', 's3://src-t', 's3://dst-t', '--delete', '--exclude', 'keep/**', '--job-dir', jobDir], { env });
    assert.equal(refused.code, 1, 'deletions not done: exit 1');
    // The share is of the destination's objects within the filters: the 30 it had, all extra.
    assert.match(refused.stderr, /deleted none of the 30 objects the source does not have: deleting 30 of the destination's 30 objects \(100\.0%\) is more than --max-delete 50%/);
    assert.equal((await listAll(client, 'dst-t', '')).length, 43, 'nothing deleted');
    assert.equal((await listAll(client, 'dst-t', '')).filter((k) => /^k\d$/.test(k)).length, 10, 'the copies were made');

    // Now the destination holds the 10 copies too: 30 of 40 (75%) is within --max-delete 80.
    await nextSecond();
    const allowed = await runFerry(
      ['sync', 's3://src-t', 's3://dst-t', '--delete', '--max-delete', '80', '--exclude', 'keep/**', '--json', '--job-dir', jobDir],
      { env },
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    const r = JSON.parse(allowed.stdout);
    assert.deepEqual(r.objects, { total: 10, copied: 0, skipped: 10, failed: 0 });
    assert.deepEqual(r.deletes, { planned: 30, deleted: 30, failed: 0 });
    assert.deepEqual(await listAll(client, 'dst-t', ''), [...Array.from({ length: 10 }, (_, i) => `k${i}`), 'keep/0.log', 'keep/1.log', 'keep/2.log'].sort());
  });

  it('--size-only misses a same-size rewrite, the default and --checksum catch it', async () => {
    const jobDir = await tempDir();
    await put(client, 'src-c', 'a', 'one');
    await put(client, 'src-c', 'b', 'two');
    await nextSecond();
    assert.equal((await runFerry(['sync', 's3://src-c', 's3://dst-c', '--job-dir', jobDir], { env })).code, 0);
    await nextSecond();
    await put(client, 'src-c', 'a', 'ONE');
    await nextSecond();
    const actions = async (...extra: string[]) => {
      const run = await runFerry(['sync', 's3://src-c', 's3://dst-c', '--dry-run', '--job-dir', jobDir, ...extra], { env });
      assert.equal(run.code, 0, run.stderr);
      return run.stdout;
    };
    assert.equal(await actions('--size-only'), '');
    assert.equal(await actions(), 'copy a (changed since the destination was written)\n');
    assert.equal(await actions('--checksum'), 'copy a (checksums differ)\n');
  });

  it('withholds every deletion when a copy failed (the Delete step alone, over the job store)', async () => {
    // The failed copy is written into the job store by hand: no server here fails one copy on cue.
    const dir = await tempDir();
    const store = new DirectoryJobStore(dir);
    await put(client, 'dst', 'w/extra', 'x');
    const job = {
      jobId: 'withheld-1',
      kind: 'copy',
      createdAt: new Date().toISOString(),
      source: { kind: 's3', bucket: 'src', prefix: 'w/', endpoint: server.endpoint },
      destination: { kind: 's3', bucket: 'dst', prefix: 'w/', endpoint: server.endpoint },
      include: [],
      exclude: [],
      dryRun: false,
      transfer: { multipartThreshold: 0, partSize: 0, concurrency: 0 },
      manifestMaxEntries: 1000,
      manifestMaxBytes: 1e12,
      sync: { compare: 'time', delete: true, maxDeletePercent: 100, force: false },
    } as CopyJob;
    await store.put(jobKeys.job(job.jobId), JSON.stringify(job));
    await store.put(jobKeys.deletes(job.jobId, 1), `${JSON.stringify({ k: 'extra', s: 1 })}\n`);
    const manifest = jobKeys.manifest(job.jobId, 1);
    await store.put(jobKeys.result(job.jobId, manifest), JSON.stringify({ manifest, entries: 1, doneThrough: 1, doneAbove: [], copied: 0, failed: 1, failures: [] }));
    const plan = { done: true, startAfter: '', manifests: 1, objects: 1, bytes: 1, extra: 1, deleteManifests: 1, destinationObjects: 1 };
    const deps = { store, s3: () => client, remainingMs: () => 60_000, marginMs: 0 };
    const out = await deleteExtra({ jobId: job.jobId, plan }, deps);
    assert.equal(out.done, true);
    assert.match(out.withheld ?? '', /1 objects failed to copy .* nothing was deleted/);
    assert.deepEqual(await listAll(client, 'dst', 'w/'), ['extra']);

    // Once the copies are whole, the same step deletes.
    await store.put(jobKeys.result(job.jobId, manifest), JSON.stringify({ manifest, entries: 1, doneThrough: 1, doneAbove: [], copied: 1, failed: 0, failures: [] }));
    assert.deepEqual(await deleteExtra({ jobId: job.jobId, plan }, deps), { done: true, next: 2 });
    assert.deepEqual(await listAll(client, 'dst', 'w/'), []);
  });

  it('verify: same after a copy; missing, extra, size and checksum differences listed; --deep reads what ETags cannot tell', async () => {
    const jobDir = await tempDir();
    const MiB = 1024 * 1024;
    const big = (fill: number) => Buffer.alloc(6 * MiB + 3, fill);
    await client.send(new PutObjectCommand({ Bucket: 'src-v', Key: 'big', Body: big(1) }));
    for (let i = 0; i < 30; i++) await put(client, 'src-v', `small/${i}`, `small ${i}`);
    // In parts at the destination: its ETag is a multipart one, not comparable with the source's.
    const copy = await runFerry(['copy', 's3://src-v', 's3://dst-v', '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--job-dir', jobDir], { env });
    assert.equal(copy.code, 0, copy.stderr);
    const verify = (...extra: string[]) => runFerry(['verify', 's3://src-v', 's3://dst-v', '--job-dir', jobDir, ...extra], { env });

    const same = await verify('--json');
    assert.equal(same.code, 0, same.stderr);
    const s1 = JSON.parse(same.stdout);
    assert.equal(s1.status, 'same');
    assert.deepEqual(s1.objects, { source: 31, destination: 31, matched: 30, sizeOnly: 1, missing: 0, extra: 0, differ: 0 });
    assert.deepEqual(JSON.parse((await verify('--json', '--deep')).stdout).objects, { source: 31, destination: 31, matched: 31, sizeOnly: 0, missing: 0, extra: 0, differ: 0 });

    // Same size, other bytes, in the source: its single-part ETag against the copy's multipart one.
    await client.send(new PutObjectCommand({ Bucket: 'src-v', Key: 'big', Body: big(2) }));
    await put(client, 'dst-v', 'small/1', 'SMALL 1'); // same size: the MD5 ETags differ
    await put(client, 'dst-v', 'small/2', 'longer small 2');
    await client.send(new DeleteObjectCommand({ Bucket: 'dst-v', Key: 'small/3' }));
    await put(client, 'dst-v', 'small/x', 'extra');
    const shallow = await verify();
    assert.equal(shallow.code, 1);
    const lines = shallow.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(':')[0]),
      ['checksum small/1', 'size small/2', 'missing small/3', 'extra small/x'],
      'in key order; big matches in size and cannot be told apart without --deep',
    );
    assert.match(shallow.stderr, /different: 31 objects in the source, 31 at the destination; 27 match, 1 match in size .* 1 missing, 1 extra, 2 differ/);
    const csv = await readFile(shallow.stderr.match(/the list is in (.*)$/m)![1]!, 'utf8');
    assert.equal(csv.trim().split('\n').length, 5, csv);
    assert.match(csv, /^small\/2,size,"7 bytes in the source, 14 at the destination"$/m);
    assert.match(csv, /^small\/3,missing,"7 bytes, not at the destination"$/m);

    const deep = await verify('--deep');
    assert.equal(deep.code, 1);
    assert.deepEqual(
      deep.stdout.trim().split('\n').map((l) => l.split(':')[0]),
      ['checksum big', 'checksum small/1', 'size small/2', 'missing small/3', 'extra small/x'],
    );
  });

  it('bad input: one line, exit 2, nothing written', async () => {
    const jobDir = await tempDir();
    const cases: [string[], RegExp][] = [
      [['sync', jobDir, jobDir], /sync takes s3:\/\/ on at least one side/],
      [['sync', 's3://src', 's3://dst', '--size-only', '--checksum'], /--size-only and --checksum: one or the other/],
      [['sync', 's3://src', 's3://dst', '--force'], /--max-delete and --force apply to --delete/],
      [['sync', 's3://src', 's3://dst', '--delete', '--max-delete', '150'], /--max-delete: a percentage from 0 to 100/],
      [['copy', 's3://src', 's3://dst', '--delete'], /Unknown option '--delete'/],
      [['plan', 's3://src'], /plan needs a source and a destination/],
      [['verify', jobDir, jobDir], /verify takes s3:\/\/ on at least one side/],
      [['verify', 's3://src', `${jobDir}/missing`], /missing: not a directory/],
      [['verify', 's3://src', 's3://no-such-bucket'], /no-such-bucket/],
    ];
    for (const [args, message] of cases) {
      const run = await runFerry([...args, '--job-dir', jobDir], { env });
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    }
  });
});
