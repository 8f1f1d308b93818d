// ferry restore against a real versioned S3 implementation, Ceph's radosgw: objects overwritten
// and deleted around an instant T, delete markers, objects written before versioning was enabled
// (their `null` version), archived objects (radosgw stores GLACIER and DEEP_ARCHIVE classes).
// radosgw does not archive anything, so the thaw is played by test/thaw-proxy.ts in front of it:
// archived objects cannot be read until a RestoreObject and 1.5 s, as S3 documents (only that
// timing, and the answers to RestoreObject, are not the real service's).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { formatBytes } from '../lib/core/size.ts';
import { compareKeys } from '../lib/core/keys.ts';
import { type KeyAt, keysAt } from '../lib/core/versions.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { RGW_CREDENTIALS, type Radosgw, startRadosgw } from './ceph.ts';
import { listAll, localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';
import { startThawProxy, type ThawProxy } from './thaw-proxy.ts';

const MiB = 1024 * 1024;
const nextSecond = () => new Promise((r) => setTimeout(r, 1100));

describe('ferry restore on radosgw', () => {
  let rgw: Radosgw;
  let proxy: ThawProxy;
  let embedded: { server: EmbeddedServer; client: S3Client };
  let env: NodeJS.ProcessEnv;
  let T: string;
  /** What the bucket held at T, key by key. */
  const atT = new Map<string, Buffer>();
  /** What it holds now. */
  const now = new Map<string, Buffer>();
  const big0 = randomBytes(12 * MiB + 5);
  const big1 = randomBytes(12 * MiB + 5);

  const put = async (key: string, body: string | Buffer, storageClass?: StorageClass) => {
    await rgw.client.send(new PutObjectCommand({ Bucket: 'backup', Key: key, Body: body, StorageClass: storageClass }));
    now.set(key, Buffer.from(body));
  };
  const del = async (key: string) => {
    await rgw.client.send(new DeleteObjectCommand({ Bucket: 'backup', Key: key }));
    now.delete(key);
  };

  before(async () => {
    rgw = await startRadosgw();
    for (const Bucket of ['backup', 'debug', 'debug2', 'plain']) await rgw.client.send(new CreateBucketCommand({ Bucket }));
    // Written before versioning was enabled: their versions are `null`.
    await put('pre/a.txt', 'A0, written before versioning');
    await put('pre/b.txt', 'B0, written before versioning');
    await rgw.client.send(new PutBucketVersioningCommand({ Bucket: 'backup', VersioningConfiguration: { Status: 'Enabled' } }));
    await put('k1', 'k1 first');
    await put('k2', 'k2 first');
    await put('gone', 'gone: deleted before T');
    await put('big.bin', big0);
    await put('pre/b.txt', 'B1, after versioning');
    await put('cold/g1', 'g1 in GLACIER', 'GLACIER');
    await put('cold/d1', 'd1 in DEEP_ARCHIVE', 'DEEP_ARCHIVE');
    await put('cold/warm', 'in GLACIER, thawed before ferry came', 'GLACIER');
    await del('gone');
    for (const [k, v] of now) atT.set(k, v);
    await nextSecond();
    T = new Date().toISOString();
    await nextSecond();
    // After T: none of this may show in a restore at T.
    await put('k1', 'k1 second, after T');
    await del('k2');
    await put('new', 'written after T');
    await put('big.bin', big1);
    await del('pre/a.txt');
    await put('gone', 'gone: back after T');
    await put('cold/g1', 'g1 rewritten after T', 'GLACIER');
    await rgw.client.send(new PutObjectCommand({ Bucket: 'plain', Key: 'x', Body: 'never versioned' }));

    proxy = await startThawProxy(rgw.endpoint, rgw.client, 1500);
    embedded = await serverWithBuckets('restored');
    env = localEnv({ AWS_ACCESS_KEY_ID: RGW_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: RGW_CREDENTIALS.secretAccessKey });
  });
  after(async () => {
    await proxy?.stop();
    await embedded?.server.stop();
    await rgw?.stop();
  });

  const restore = async (args: string[]) => {
    const run = await runFerry(['restore', ...args, '--endpoint-url', proxy.endpoint, '--thaw-check-seconds', '1', '--job-dir', await tempDir()], { env });
    return run;
  };
  const bodies = async (client: S3Client, bucket: string, prefix = '') => {
    const out = new Map<string, Buffer>();
    for (const key of await listAll(client, bucket, prefix)) {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + key })).catch((err) => {
        throw new Error(`GET ${bucket}/${prefix}${key}: ${err.name} ${err.$metadata?.httpStatusCode}`);
      });
      out.set(key, Buffer.from(await got.Body!.transformToByteArray()));
    }
    return out;
  };
  const assertSame = (actual: Map<string, Buffer>, expected: Map<string, Buffer>) => {
    assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
    for (const [k, v] of expected) assert.ok(actual.get(k)!.equals(v), `${k}: restored bytes differ from what the bucket held`);
  };

  it('plan: what a restore at T copies, what it must thaw (per class, wait and cost), what had no object then', async () => {
    const run = await runFerry(['plan', 's3://backup', 's3://debug', '--at', T, '--endpoint-url', proxy.endpoint, '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines[0], `s3://backup/ -> s3://debug/, as it was at ${T}`);
    // k1, k2, big.bin, pre/a.txt, pre/b.txt, and 3 archived.
    const bytes = [...atT.values()].reduce((n, b) => n + b.length, 0);
    assert.equal(lines[1], `restore: 8 objects, ${formatBytes(bytes)} (5 readable now, 3 archived)`);
    // Bulk: free from Flexible Retrieval (only the 7 days of thawed copies cost), hours as documented.
    assert.match(lines[2]!, /^thaw Bulk: 1 DEEP_ARCHIVE objects, 18 B; expected wait up to 48 hours, about \$0\.00 /);
    assert.match(lines[3]!, /^thaw Bulk: 2 GLACIER objects, \d+ B; expected wait 5-12 hours, about \$0\.00 /);
    assert.equal(lines[4], 'no object then: 1 keys deleted at that time, 1 written later');
    assert.equal(proxy.restoreRequests.size, 0, 'a plan requests no thaw');
  });

  it('each key at T from version listings of 1, 2, 3 and 1,000 a page, read as sent and through the SDK: same versions, right bytes', async () => {
    // Small pages put a key's versions across pages, and make pages of only delete markers or only old versions.
    const outcomes: string[] = [];
    for (const pageSize of [1, 2, 3, 1000]) {
      for (const sdk of [false, true]) {
        const seen: KeyAt[] = [];
        for await (const k of keysAt(rgw.client, 'backup', '', new Date(T), '', { pageSize, sdk })) seen.push(k);
        const present = seen.flatMap((k) => (k.state === 'present' ? [k.object] : []));
        assert.deepEqual(present.map((o) => o.key), [...atT.keys()].sort(compareKeys), `page ${pageSize}, sdk ${sdk}`);
        assert.deepEqual(seen.flatMap((k) => (k.state === 'present' ? [] : [`${k.state} ${k.key}`])), ['deleted gone', 'later new']);
        outcomes.push(JSON.stringify(present.map((o) => [o.key, o.versionId, o.size])));
        if (pageSize === 1 && !sdk) {
          for (const o of present) {
            const got = await rgw.client.send(new GetObjectCommand({ Bucket: 'backup', Key: o.key, VersionId: o.versionId }));
            assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(atT.get(o.key)!), `${o.key} ${o.versionId}`);
          }
          assert.equal(present.find((o) => o.key === 'pre/a.txt')?.versionId, 'null');
        }
      }
    }
    assert.equal(new Set(outcomes).size, 1, 'every page size and both readers find the same versions');
  });

  it('restores the bucket as it was at T: versions, null versions, delete markers, archived objects thawed', async () => {
    // One archived object was thawed before ferry came: it must not be asked for again.
    const { HeadObjectCommand, RestoreObjectCommand } = await import('@aws-sdk/client-s3');
    const { S3Client: Client } = await import('@aws-sdk/client-s3');
    const viaProxy = new Client({ endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...RGW_CREDENTIALS } });
    await viaProxy.send(new RestoreObjectCommand({ Bucket: 'backup', Key: 'cold/warm', RestoreRequest: { Days: 1, GlacierJobParameters: { Tier: 'Bulk' } } }));
    await new Promise((r) => setTimeout(r, 1600));
    assert.match((await viaProxy.send(new HeadObjectCommand({ Bucket: 'backup', Key: 'cold/warm' }))).Restore ?? '', /ongoing-request="false"/);

    const run = await restore(['s3://backup', 's3://debug/t', '--at', T, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.objects, { total: 8, copied: 8, skipped: 0, failed: 0 });
    assertSame(await bodies(rgw.client, 'debug', 't/'), atT);
    // cold/g1 (the version at T) and cold/d1 were requested once each; cold/warm never.
    const requested = [...proxy.restoreRequests.keys()].map((k) => k.split('?')[0]).sort();
    assert.deepEqual(requested, ['backup/cold/d1', 'backup/cold/g1', 'backup/cold/warm']);
    assert.equal(proxy.restoreRequests.get([...proxy.restoreRequests.keys()].find((k) => k.startsWith('backup/cold/warm'))!), 1, 'only the test asked for cold/warm');
    for (const [k, n] of proxy.restoreRequests) if (!k.startsWith('backup/cold/warm')) assert.equal(n, 1, `${k} asked for ${n} times`);

    // The report's account, object by object.
    const full = JSON.parse(await readFile(report.reportPath, 'utf8'));
    assert.deepEqual({ ...full.restore, objectsKey: undefined }, { at: T, archived: 3, thawRequested: 2, thawFailed: 0, absent: { deleted: 1, later: 1 }, objectsKey: undefined });
    const csv = (await readFile(path.join(path.dirname(report.reportPath), 'objects.csv'), 'utf8')).trim().split('\n');
    assert.equal(csv[0], 'key,version_id,storage_class,thaw,outcome,detail');
    const rows = new Map(csv.slice(1).map((l) => [l.split(',')[0]!, l.split(',')]));
    assert.deepEqual([...rows.keys()].sort(), ['big.bin', 'cold/d1', 'cold/g1', 'cold/warm', 'gone', 'k1', 'k2', 'new', 'pre/a.txt', 'pre/b.txt']);
    assert.equal(rows.get('pre/a.txt')![1], 'null', 'the version written before versioning');
    assert.match(rows.get('k1')![1]!, /^[\w.-]+$/);
    assert.deepEqual(rows.get('cold/g1')!.slice(2, 5), ['GLACIER', 'requested', 'copied']);
    assert.deepEqual(rows.get('cold/warm')!.slice(2, 5), ['GLACIER', 'not-needed', 'copied']);
    assert.deepEqual(rows.get('gone')!.slice(4, 5), ['skipped']);
    assert.match(rows.get('gone')!.slice(5).join(','), /deleted at that time/);
    assert.match(rows.get('new')!.slice(5).join(','), /written after that time/);
    // The copies are readable now: STANDARD, whatever the source's class.
    assert.equal((await rgw.client.send(new HeadObjectCommand({ Bucket: 'debug', Key: 't/cold/g1' }))).StorageClass ?? 'STANDARD', 'STANDARD');
  });

  it('restores the current state (no --at) to another endpoint, streamed: already thawed objects are not asked for again', async () => {
    const before = new Map(proxy.restoreRequests);
    const run = await runFerry(
      ['restore', 's3://backup', 's3://restored', '--source-endpoint-url', proxy.endpoint, '--dest-endpoint-url', embedded.server.endpoint, '--thaw-check-seconds', '1', '--json', '--job-dir', await tempDir()],
      { env: { ...env } },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).objects, { total: now.size, copied: now.size, skipped: 0, failed: 0 });
    assertSame(await bodies(embedded.client, 'restored'), now);
    // cold/g1's current version is new (one request); d1 and warm are thawed already.
    const asked = [...proxy.restoreRequests].filter(([k, n]) => n !== (before.get(k) ?? 0)).map(([k]) => k.split('?')[0]);
    assert.deepEqual(asked, ['backup/cold/g1']);
  });

  it('restores onto a directory as it was at an instant: versions read by id, a new archived object thawed in the process', async () => {
    await put('cold/late', 'archived after the other restores', 'GLACIER');
    await nextSecond();
    const T2 = new Date().toISOString();
    await nextSecond();
    await put('k1', 'k1 third, after T2');
    const expected = new Map(now);
    expected.set('k1', Buffer.from('k1 second, after T'));
    const dir = path.join(await tempDir(), 'volume');
    const run = await restore(['s3://backup', dir, '--at', T2, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.objects, { total: expected.size, copied: expected.size, skipped: 0, failed: 0 });
    const files = new Map<string, Buffer>();
    for (const key of expected.keys()) files.set(key, await readFile(path.join(dir, key)).catch(() => Buffer.from('(missing)')));
    assertSame(files, expected);
    const written = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
    assert.equal(written.length, expected.size, 'nothing else is written (no temporary file left)');
    const csv = await readFile(path.join(path.dirname(report.reportPath), 'objects.csv'), 'utf8');
    assert.match(csv, /^k2,[^,]+,,,skipped,deleted at that time/m);
    assert.match(csv, /^cold\/late,[^,]+,GLACIER,requested,copied,$/m);
    assert.match(csv, /^cold\/d1,[^,]+,DEEP_ARCHIVE,not-needed,copied,$/m);
    assert.equal([...proxy.restoreRequests].filter(([k]) => k.startsWith('backup/cold/late?')).map(([, n]) => n).join(), '1');
    // In every restore so far, no archived object was read before its thaw was done.
    assert.equal(proxy.refusedReads, 0);
  });

  it('an object that cannot be thawed (Expedited from Deep Archive) is failed with why; the rest is restored; exit 1', async () => {
    await put('cold/deep2', 'in DEEP_ARCHIVE, never thawed yet', 'DEEP_ARCHIVE');
    const run = await restore(['s3://backup/cold', 's3://debug2/cold', '--thaw-tier', 'Expedited', '--json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout);
    const cold = [...now.keys()].filter((k) => k.startsWith('cold/'));
    assert.deepEqual(report.objects, { total: cold.length, copied: cold.length - 1, skipped: 0, failed: 1 });
    const restored = await bodies(rgw.client, 'debug2', 'cold/');
    assert.deepEqual([...restored.keys()].sort(), cold.filter((k) => k !== 'cold/deep2').map((k) => k.slice(5)).sort());
    const failures = await readFile(path.join(path.dirname(report.reportPath), 'failures.csv'), 'utf8');
    assert.match(failures, /^deep2,\d+,InvalidArgument,not thawed: Expedited retrieval is not supported/m);
    const csv = await readFile(path.join(path.dirname(report.reportPath), 'objects.csv'), 'utf8');
    assert.match(csv, /^deep2,,DEEP_ARCHIVE,failed,failed,InvalidArgument: not thawed/m);
    assert.equal(proxy.refusedReads, 0, 'the unthawable object was never read');
    // debug2 is left empty for the refusals below.
    for (const key of await listAll(rgw.client, 'debug2', '')) await rgw.client.send(new DeleteObjectCommand({ Bucket: 'debug2', Key: key }));
  });

  it('refuses a destination inside the source, a source never versioned with --at, a time to come, a time without its zone', async () => {
    const cases: [string[], RegExp][] = [
      [['s3://backup', 's3://backup/restored', '--at', T], /overlaps the source s3:\/\/backup\/: a restore never writes to its source/],
      [['s3://plain', 's3://debug2', '--at', T], /s3:\/\/plain has never had versioning enabled/],
      [['s3://backup', 's3://debug2', '--at', new Date(Date.now() + 3_600_000).toISOString()], /is in the future/],
      [['s3://backup', 's3://debug2', '--at', '2026-11-01 00:00'], /an ISO 8601 instant with its zone/],
      [['s3://backup', 's3://debug2', '--thaw-tier', 'Fast'], /--thaw-tier: Bulk, Standard or Expedited/],
    ];
    for (const [args, message] of cases) {
      const run = await restore(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1);
    }
    assert.deepEqual(await listAll(rgw.client, 'debug2', ''), []);
  });
});
