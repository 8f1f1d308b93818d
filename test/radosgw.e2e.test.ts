// ferry copy against a real S3 implementation, Ceph's radosgw: it checks every SigV4 signature
// (the lean CopyObject path's included), has its own key-encoding rules and rejects the SDK's
// streaming checksum uploads; users of S3-compatible stores hit exactly these.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyOf, datasetSpecs, type ObjectSpec, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import { compareKeys } from '../lib/core/keys.ts';
import { type ListedObject, listObjects } from '../lib/core/listing.ts';
import { onLocalFileSystem } from '../lib/core/pull.ts';
import { createWorkQueue, type EmbeddedServer } from '../lib/local/server.ts';
import { RGW_CREDENTIALS, type Radosgw, startRadosgw } from './ceph.ts';
import { assertPushed, localEnv, runFerry, serverWithBuckets, startFerry, tempDir, writeTree } from './helpers.ts';

const MiB = 1024 * 1024;

describe('ferry copy on radosgw', () => {
  let rgw: Radosgw;
  let embedded: { server: EmbeddedServer; client: import('@aws-sdk/client-s3').S3Client };
  let specs: ObjectSpec[];
  let env: NodeJS.ProcessEnv;

  before(async () => {
    rgw = await startRadosgw({ cephfs: true });
    for (const Bucket of ['rgw-src', 'rgw-dst', 'rgw-from-local', 'rgw-denied', 'rgw-pushed', 'rgw-fleet', 'rgw-jobs', 'rgw-sync-src', 'rgw-sync-dst', 'rgw-tree-sync']) await rgw.client.send(new CreateBucketCommand({ Bucket }));
    specs = datasetSpecs(150, [6 * MiB + 1]);
    await uploadDataset(rgw.client, 'rgw-src', specs);
    embedded = await serverWithBuckets('local-from-rgw', 'local-src');
    await uploadDataset(embedded.client, 'local-src', specs);
    env = localEnv({ AWS_ACCESS_KEY_ID: RGW_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: RGW_CREDENTIALS.secretAccessKey });
  });
  after(async () => {
    await embedded?.server.stop();
    await rgw?.stop();
  });

  it('lists from the XML exactly as the SDK parses radosgw\'s listing, over pages and from a key', async () => {
    const listed = async (startAfter: string, sdk: boolean) => {
      const out: ListedObject[] = [];
      for await (const o of listObjects(rgw.client, 'rgw-src', '', startAfter, { pageSize: 7, sdk })) out.push(o);
      return out;
    };
    const keys = specs.map((s) => s.key).sort(compareKeys);
    for (const startAfter of ['', keys[100]!]) {
      const lean = await listed(startAfter, false);
      assert.deepEqual(lean, await listed(startAfter, true));
      assert.deepEqual(lean.map((o) => o.key), keys.filter((k) => startAfter === '' || compareKeys(k, startAfter) > 0));
    }
  });

  it('server-side copy: every key, byte and header, through signed lean copies and part copies', async () => {
    const run = await runFerry(
      ['copy', 's3://rgw-src', 's3://rgw-dst/p', '--endpoint-url', rgw.endpoint, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir()],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
    assert.deepEqual((await verifyAgainstSpecs(rgw.client, 'rgw-dst', 'p/', specs)).mismatches, []);
  });

  it('sync: a second run copies nothing, a changed and a deleted object are carried over, DeleteObjects accepted', async () => {
    const nextSecond = () => new Promise((r) => setTimeout(r, 1100)); // LastModified has whole seconds
    await uploadDataset(rgw.client, 'rgw-sync-src', specs);
    await nextSecond();
    const sync = async (...extra: string[]) => {
      const run = await runFerry(
        ['sync', 's3://rgw-sync-src', 's3://rgw-sync-dst', '--endpoint-url', rgw.endpoint, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir(), ...extra],
        { env },
      );
      assert.equal(run.code, 0, run.stderr);
      await nextSecond();
      return JSON.parse(run.stdout);
    };
    assert.deepEqual((await sync()).objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
    assert.deepEqual((await verifyAgainstSpecs(rgw.client, 'rgw-sync-dst', '', specs)).mismatches, []);
    // The large object's copy went in parts: its ETag differs from the source's, and --checksum
    // falls back on the times for it rather than copying it again.
    assert.deepEqual((await sync('--checksum')).objects, { total: specs.length, copied: 0, skipped: specs.length, failed: 0 });

    const [changed, removed] = [specs[3]!, specs[4]!];
    const rewritten = Buffer.from(bodyOf(changed)).fill(0x5a);
    await rgw.client.send(new PutObjectCommand({ Bucket: 'rgw-sync-src', Key: changed.key, Body: rewritten }));
    await rgw.client.send(new DeleteObjectCommand({ Bucket: 'rgw-sync-src', Key: removed.key }));
    await nextSecond();
    const r = await sync('--delete');
    assert.deepEqual(r.objects, { total: specs.length - 1, copied: 1, skipped: specs.length - 2, failed: 0 });
    assert.deepEqual(r.deletes, { planned: 1, deleted: 1, failed: 0 });
    const got = await rgw.client.send(new GetObjectCommand({ Bucket: 'rgw-sync-dst', Key: changed.key }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(rewritten));
    const rest = specs.filter((x) => x !== changed && x !== removed);
    // Every other object as it was; the rewritten one (checked above) is the only one not in `rest`.
    const { mismatches } = await verifyAgainstSpecs(rgw.client, 'rgw-sync-dst', '', rest);
    assert.deepEqual(mismatches.map((m) => [m.key, m.problem]), [[changed.key, 'unexpected object']]);
    const listed = await rgw.client.send(new ListObjectsV2Command({ Bucket: 'rgw-sync-dst' }));
    assert.equal(listed.KeyCount, specs.length - 1);
    assert.ok(!listed.Contents?.some((o) => o.Key === removed.key));
  });

  it('streams from radosgw to another endpoint and back', async () => {
    const down = await runFerry(
      ['copy', 's3://rgw-src', 's3://local-from-rgw', '--source-endpoint-url', rgw.endpoint, '--dest-endpoint-url', embedded.server.endpoint, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir()],
      { env },
    );
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual((await verifyAgainstSpecs(embedded.client, 'local-from-rgw', '', specs)).mismatches, []);
    const up = await runFerry(
      ['copy', 's3://local-src', 's3://rgw-from-local', '--source-endpoint-url', embedded.server.endpoint, '--dest-endpoint-url', rgw.endpoint, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir()],
      { env },
    );
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual((await verifyAgainstSpecs(rgw.client, 'rgw-from-local', '', specs)).mismatches, []);
  });

  it('pushes a tree from CephFS (ceph-fuse) to radosgw, byte for byte', async () => {
    const root = path.join(rgw.cephfs as string, 'tree');
    const files = [...specs.slice(0, 60), { ...specs[0], key: 'big/twenty.bin', size: 20 * MiB + 5 }] as ObjectSpec[];
    for (const f of files) {
      await mkdir(path.dirname(path.join(root, f.key)), { recursive: true });
      if (!f.key.endsWith('/')) await writeFile(path.join(root, f.key), bodyOf(f));
    }
    const pushed = files.filter((f) => !f.key.endsWith('/'));
    const run = await runFerry(['copy', root, 's3://rgw-pushed/p', '--endpoint-url', rgw.endpoint, '--json', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).objects.copied, pushed.length);
    for (const f of pushed) {
      const got = await rgw.client.send(new GetObjectCommand({ Bucket: 'rgw-pushed', Key: `p/${f.key}` }));
      const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      assert.ok(body.equals(bodyOf(f)), f.key);
    }
  });

  it('sync between CephFS and radosgw both ways: only changes sent, extras deleted, every byte compared', async () => {
    const nextSecond = () => new Promise((r) => setTimeout(r, 1100)); // LastModified has whole seconds
    const tree = path.join(rgw.cephfs as string, 'synced');
    const back = path.join(rgw.cephfs as string, 'synced-back');
    const files = specs.filter((f) => !f.key.endsWith('/') && f.size < MiB).slice(0, 40);
    for (const f of files) {
      await mkdir(path.dirname(path.join(tree, f.key)), { recursive: true });
      await writeFile(path.join(tree, f.key), bodyOf(f));
    }
    await rgw.client.send(new PutObjectCommand({ Bucket: 'rgw-tree-sync', Key: 't/stale', Body: 'only here' }));
    await nextSecond();
    const sync = async (from: string, to: string) => {
      const run = await runFerry(['sync', from, to, '--delete', '--endpoint-url', rgw.endpoint, '--json', '--job-dir', await tempDir()], { env });
      assert.equal(run.code, 0, run.stderr);
      await nextSecond();
      return JSON.parse(run.stdout);
    };
    const up = await sync(tree, 's3://rgw-tree-sync/t');
    assert.deepEqual(up.objects, { total: files.length, copied: files.length, skipped: 0, failed: 0 });
    assert.deepEqual(up.deletes, { planned: 1, deleted: 1, failed: 0 });
    const down = await sync('s3://rgw-tree-sync/t', back);
    assert.equal(await onLocalFileSystem(back), false, 'CephFS is written through the threadpool, where its round trips overlap');
    assert.deepEqual(down.objects, { total: files.length, copied: files.length, skipped: 0, failed: 0 });

    // One file grows on CephFS; the next syncs send it, and only it, each way.
    await writeFile(path.join(tree, files[0]!.key), 'grown on CephFS, longer than before');
    await nextSecond();
    assert.deepEqual((await sync(tree, 's3://rgw-tree-sync/t')).objects, { total: files.length, copied: 1, skipped: files.length - 1, failed: 0 });
    await writeFile(path.join(back, 'local-only'), 'x');
    const again = await sync('s3://rgw-tree-sync/t', back);
    assert.deepEqual(again.objects, { total: files.length, copied: 1, skipped: files.length - 1, failed: 0 });
    assert.deepEqual(again.deletes, { planned: 1, deleted: 1, failed: 0 });
    for (const f of files) assert.ok((await readFile(path.join(back, f.key))).equals(await readFile(path.join(tree, f.key))), f.key);
    const verify = await runFerry(['verify', 's3://rgw-tree-sync/t', back, '--deep', '--endpoint-url', rgw.endpoint, '--job-dir', await tempDir()], { env });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  it('fleet mode on CephFS: a scan and two workers over SQS, one killed -9 in the middle; every byte on radosgw', async () => {
    const root = path.join(rgw.cephfs as string, 'fleet');
    const files = Array.from({ length: 300 }, (_, i) => ({ key: `p${i % 5}/q${i % 3}/file-${i}.dat`, size: 500 + ((i * 4099) % 40_000) }));
    files.push({ key: 'large/eighteen.bin', size: 18 * MiB + 3 });
    const mtime = new Date('2026-01-02T03:04:05.678Z');
    await writeTree(root, files, mtime);
    const queue = await createWorkQueue(embedded.server.endpoint, 'cephfs', { visibilitySeconds: 3, maxReceiveCount: 5 });
    const rgwOptions = ['--endpoint-url', rgw.endpoint];
    const scan = startFerry(['scan', root, '--to', 's3://rgw-fleet/f', '--queue', queue, '--job-bucket', 'rgw-jobs', '--manifest-max-entries', '15', '--json', ...rgwOptions], { env });
    const workers = ['--queue', queue, '--idle-exit', '8', ...rgwOptions];
    const doomed = startFerry(['work', ...workers, '--concurrency', '2'], { env });
    const survivor = startFerry(['work', ...workers], { env });
    await doomed.waitForStderr(/copied/);
    doomed.child.kill('SIGKILL');
    assert.equal((await survivor.done).code, 0, survivor.output.stderr);
    const done = await scan.done;
    assert.equal(done.code, 0, done.stderr);
    const out = JSON.parse(done.stdout);
    assert.equal(out.objects.total, files.length);
    assert.equal(out.objects.copied + out.objects.skipped, files.length);
    assert.equal(out.objects.failed, 0);
    await assertPushed(rgw.client, 'rgw-fleet', 'f/', files);

    // Pushed again: every file is at the destination, unchanged since, and skipped without a request each.
    const again = await runFerry(['copy', root, 's3://rgw-fleet/f', '--json', '--job-dir', await tempDir(), ...rgwOptions], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).objects, { total: files.length, copied: 0, skipped: files.length, failed: 0 });
  });

  it('wrong credentials: one line, exit 3, before anything is written', async () => {
    const run = await runFerry(['copy', 's3://rgw-src', 's3://rgw-denied', '--endpoint-url', rgw.endpoint, '--job-dir', await tempDir()], {
      env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
    });
    assert.equal(run.code, 3);
    assert.match(run.stderr.trim(), /^ferry: source s3:\/\/rgw-src\/: credentials rejected \(SignatureDoesNotMatch\)$/);
    assert.deepEqual((await verifyAgainstSpecs(rgw.client, 'rgw-denied', '', [])).mismatches, []);
  });
});
