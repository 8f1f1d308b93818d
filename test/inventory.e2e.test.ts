// --from-inventory: the source listing read from an S3 Inventory report (manifest.json and CSV.gz
// files, written here as S3 writes them: every field quoted, keys URL-encoded, rows in no order)
// instead of ListObjectsV2. No server here produces inventories; the embedded endpoint serves the
// files the test writes, and the objects they list are real objects copied for real.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { compareKeys } from '../lib/core/keys.ts';
import { decodeInventoryKey, parseCsvLine } from '../lib/core/inventory.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { listAll, localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';

const SCHEMA = 'Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass';
const MANIFEST = 's3://inv-reports/inv-src/nightly/2026-11-20T00-00Z/manifest.json';

/** As S3 Inventory encodes a key in CSV: URL-encoded, a space as "+". */
const encodeKey = (key: string) => encodeURIComponent(key).replaceAll('%20', '+');
const csv = (fields: readonly string[]) => fields.map((f) => `"${f.replaceAll('"', '""')}"`).join(',');

// Keys whose UTF-16 and UTF-8 orders differ (an emoji's surrogates against U+FFFD), a space, a
// plus, accents, a quote: each must arrive as written and in S3's order.
const SPECIAL = ['data/a b.txt', 'data/plus+sign', 'data/ünïcode/é.txt', 'data/😀/x', 'data/\uFFFD-after', 'data/quote"d'];
const GENERATED = Array.from({ length: 250 }, (_, i) => `data/k-${String((i * 7919) % 1000).padStart(4, '0')}`);
const LISTED = [...SPECIAL, ...GENERATED];

function bodyFor(key: string): Buffer {
  return Buffer.from(`${key}\n`.repeat(1 + (key.length % 5)));
}

async function putInventory(client: S3Client, base: string, rows: string[], options: { files?: number; badMd5?: boolean; format?: string; bucket?: string } = {}): Promise<string> {
  const files: { key: string; size: number; MD5checksum: string }[] = [];
  const count = options.files ?? 3;
  for (let f = 0; f < count; f++) {
    const body = gzipSync(`${rows.filter((_, i) => i % count === f).join('\n')}\n`);
    const key = `${base}/data/${f}-part.csv.gz`;
    await client.send(new PutObjectCommand({ Bucket: 'inv-reports', Key: key, Body: body }));
    const md5 = createHash('md5').update(body).digest('hex');
    files.push({ key, size: body.length, MD5checksum: options.badMd5 && f === 1 ? md5.replace(/^./, (c) => (c === '0' ? '1' : '0')) : md5 });
  }
  const manifest = {
    sourceBucket: options.bucket ?? 'inv-src',
    destinationBucket: 'arn:aws:s3:::inv-reports',
    version: '2016-11-30',
    creationTimestamp: String(Date.parse('2026-11-20T00:00:00Z')),
    fileFormat: options.format ?? 'CSV',
    fileSchema: SCHEMA,
    files,
  };
  const key = `${base}/manifest.json`;
  await client.send(new PutObjectCommand({ Bucket: 'inv-reports', Key: key, Body: JSON.stringify(manifest) }));
  return `s3://inv-reports/${key}`;
}

describe('copy and sync from an S3 Inventory report', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let rows: string[];
  before(async () => {
    ({ server, client } = await serverWithBuckets('inv-src', 'inv-dst', 'inv-reports'));
    for (const key of [...LISTED, 'other/outside-the-prefix', 'data/written-after-the-inventory']) {
      await client.send(new PutObjectCommand({ Bucket: 'inv-src', Key: key, Body: bodyFor(key) }));
    }
    // The inventory's rows, from a real listing (sizes, times, ETags as S3 has them), shuffled.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'inv-src', MaxKeys: 1000 }));
    rows = [];
    for (const o of listed.Contents ?? []) {
      if (o.Key === 'data/written-after-the-inventory') continue;
      const etag = (o.ETag ?? '').replaceAll('"', '');
      rows.push(csv(['inv-src', encodeKey(o.Key as string), 'v2', 'true', 'false', String(o.Size), (o.LastModified as Date).toISOString(), etag, 'STANDARD']));
    }
    // An older version of a key, and a delete marker of one no longer there: neither is copied.
    rows.push(csv(['inv-src', encodeKey(GENERATED[0] as string), 'v1', 'false', 'false', '3', '2026-01-01T00:00:00.000Z', 'abc', 'STANDARD']));
    rows.push(csv(['inv-src', encodeKey('data/deleted-before'), 'v3', 'true', 'true', '', '2026-01-02T00:00:00.000Z', '', '']));
    rows.sort(() => Math.random() - 0.5);
    await putInventory(client, 'inv-src/nightly/2026-11-20T00-00Z', rows);
  });
  after(() => server.stop());

  it('parses quoted CSV and decodes keys as S3 Inventory writes them', () => {
    assert.deepEqual(parseCsvLine('"a","b,c","say ""hi""",""'), ['a', 'b,c', 'say "hi"', '']);
    for (const key of SPECIAL) assert.equal(decodeInventoryKey(encodeKey(key)), key);
    assert.equal(decodeInventoryKey('a+b%2Bc'), 'a b+c');
  });

  it('copies every current object the inventory lists under the prefix, in S3 order, and nothing else', async () => {
    const jobDir = await tempDir();
    const run = await runFerry(
      ['copy', 's3://inv-src/data', 's3://inv-dst/copy', '--from-inventory', MANIFEST, '--endpoint-url', server.endpoint, '--job-dir', jobDir, '--json'],
      { env: localEnv({ FERRY_INVENTORY_RUN_ROWS: '40' }) },
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { jobId: string; objects: { copied: number; failed: number } };
    assert.equal(report.objects.copied, LISTED.length);
    assert.equal(report.objects.failed, 0);
    assert.match(run.stderr, /listed from the inventory of 2026-11-20T00:00:00\.000Z/);

    const copied = await listAll(client, 'inv-dst', 'copy/');
    assert.deepEqual(copied, LISTED.map((k) => k.slice('data/'.length)).sort());
    for (const key of LISTED) {
      const got = await client.send(new GetObjectCommand({ Bucket: 'inv-dst', Key: `copy/${key.slice('data/'.length)}` }));
      assert.deepEqual(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()), bodyFor(key), key);
    }
    // Sorted in runs of 40 keys (several per file), merged into manifests in UTF-8 byte order.
    const jobPath = path.join(jobDir, report.jobId);
    const runs = (await readdir(path.join(jobPath, 'inventory'))).filter((f) => f.startsWith('run-'));
    assert.ok(runs.length >= Math.ceil(LISTED.length / 40), `${runs.length} runs`);
    const manifests = (await readdir(path.join(jobPath, 'manifests'))).filter((f) => f.endsWith('.jsonl')).sort();
    const keys: string[] = [];
    for (const m of manifests) {
      for (const line of (await readFile(path.join(jobPath, 'manifests', m), 'utf8')).split('\n').filter(Boolean)) keys.push((JSON.parse(line) as { k: string }).k);
    }
    assert.equal(keys.length, LISTED.length);
    for (let i = 1; i < keys.length; i++) assert.ok(compareKeys(keys[i - 1] as string, keys[i] as string) < 0, `${keys[i - 1]} before ${keys[i]}`);
  });

  it('a sync from the same inventory finds everything current and copies nothing', async () => {
    const run = await runFerry(['sync', 's3://inv-src/data', 's3://inv-dst/copy', '--from-inventory', MANIFEST, '--endpoint-url', server.endpoint, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { objects: { copied: number; skipped: number } };
    assert.equal(report.objects.copied, 0);
    assert.equal(report.objects.skipped, LISTED.length);
  });

  it('an object deleted since the inventory was taken is reported failed; one changed since is copied as it is now', async () => {
    const changed = 'data/plus+sign';
    const stale = [
      // The report's ETag is an older content's: the copy is not pinned to it.
      csv(['inv-src', encodeKey(changed), 'v1', 'true', 'false', String(bodyFor(changed).length), '2026-11-17T00:00:00.000Z', '0123456789abcdef0123456789abcdef', 'STANDARD']),
      csv(['inv-src', encodeKey('data/a b.txt'), 'v2', 'true', 'false', String(bodyFor('data/a b.txt').length), '2026-11-19T00:00:00.000Z', '', 'STANDARD']),
      csv(['inv-src', encodeKey('data/deleted-since'), 'v2', 'true', 'false', '10', '2026-11-19T00:00:00.000Z', '', 'STANDARD']),
    ];
    const url = await putInventory(client, 'inv-src/nightly/2026-11-18T00-00Z', stale, { files: 1 });
    const jobDir = await tempDir();
    // The destination named by another address of the same server: a streamed copy, whose GET
    // carries If-Match when an ETag is known (the embedded endpoint ignores it on CopyObject).
    const sameServer = server.endpoint.replace('127.0.0.1', 'localhost');
    const run = await runFerry([
      'copy', 's3://inv-src/data', 's3://inv-dst/stale', '--from-inventory', url,
      '--source-endpoint-url', server.endpoint, '--dest-endpoint-url', sameServer, '--job-dir', jobDir, '--json',
    ]);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { jobId: string; objects: { copied: number; failed: number } };
    assert.deepEqual([report.objects.copied, report.objects.failed], [2, 1]);
    const failures = await readFile(path.join(jobDir, report.jobId, 'failures.csv'), 'utf8');
    assert.match(failures, /^deleted-since,10,NoSuchKey,/m);
    assert.deepEqual(await listAll(client, 'inv-dst', 'stale/'), ['a b.txt', 'plus+sign']);
    const got = await client.send(new GetObjectCommand({ Bucket: 'inv-dst', Key: 'stale/plus+sign' }));
    assert.deepEqual(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()), bodyFor(changed));
  });

  it("an inventory configuration's folder means its newest report with a manifest.json", async () => {
    // A newer report still being written (no manifest.json yet) is passed over.
    await client.send(new PutObjectCommand({ Bucket: 'inv-reports', Key: 'inv-src/nightly/2026-11-21T00-00Z/data/0-part.csv.gz', Body: 'partial' }));
    const run = await runFerry(['plan', 's3://inv-src/data', 's3://inv-dst/copy', '--from-inventory', 's3://inv-reports/inv-src/nightly/', '--endpoint-url', server.endpoint]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /inventory of 2026-11-20T00:00:00\.000Z \(s3:\/\/inv-reports\/inv-src\/nightly\/2026-11-20T00-00Z\/manifest\.json, 3 files\)/);
    assert.match(run.stdout, new RegExp(`unchanged: ${LISTED.length} objects`));
    const none = await runFerry(['plan', 's3://inv-src/data', 's3://inv-dst/copy', '--from-inventory', 's3://inv-reports/inv-src/none/', '--endpoint-url', server.endpoint]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no inventory report with a manifest\.json under s3:\/\/inv-reports\/inv-src\/none\//);
  });

  it('a damaged inventory file stops the job with its name, before any copy', async () => {
    const url = await putInventory(client, 'inv-src/nightly/2026-11-19T00-00Z', rows, { badMd5: true });
    const run = await runFerry(['copy', 's3://inv-src/data', 's3://inv-dst/damaged', '--from-inventory', url, '--endpoint-url', server.endpoint]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /inventory file inv-src\/nightly\/2026-11-19T00-00Z\/data\/1-part\.csv\.gz: its MD5 is not the manifest's/);
    assert.deepEqual(await listAll(client, 'inv-dst', 'damaged/'), []);
  });

  it('refuses, in one line and exit 2: another bucket\'s inventory, ORC, a bad address, a directory, --at', async () => {
    const other = await putInventory(client, 'other-src/nightly/2026-11-20T00-00Z', rows, { bucket: 'other-src' });
    const orc = await putInventory(client, 'inv-src/orc/2026-11-20T00-00Z', rows, { format: 'ORC' });
    const dir = await tempDir();
    const cases: [string[], RegExp][] = [
      [['copy', 's3://inv-src/data', 's3://inv-dst/x', '--from-inventory', other], /that inventory lists s3:\/\/other-src, not s3:\/\/inv-src/],
      [['copy', 's3://inv-src/data', 's3://inv-dst/x', '--from-inventory', orc], /ferry reads CSV inventories; this one is ORC/],
      [['copy', 's3://inv-src/data', 's3://inv-dst/x', '--from-inventory', 's3://inv-reports/nothing.csv'], /the s3:\/\/ address of an inventory's manifest\.json/],
      [['copy', 's3://inv-src/data', 's3://inv-dst/x', '--from-inventory', 's3://inv-reports/missing/manifest.json'], /cannot read it/],
      [['copy', 's3://inv-src/data', dir, '--from-inventory', MANIFEST], /--from-inventory is for copies between buckets/],
      [['copy', dir, 's3://inv-dst/x', '--from-inventory', MANIFEST], /--from-inventory is for copies between buckets/],
      [['restore', 's3://inv-src/data', 's3://inv-dst/x', '--from-inventory', MANIFEST], /--from-inventory is for copies between buckets/],
    ];
    for (const [args, message] of cases) {
      const run = await runFerry([...args, '--endpoint-url', server.endpoint]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, message);
    }
    assert.deepEqual(await listAll(client, 'inv-dst', 'x/'), []);
  });
});
