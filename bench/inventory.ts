#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Planning from an S3 Inventory report: `ferry plan SRC DST --from-inventory` over a synthetic
// inventory of N rows (hex keys in 16 prefixes, in no order, gzipped CSV files of 100,000 rows as
// S3 writes them) on the embedded endpoint: the rows sorted into runs, merged and planned into
// manifests. With LISTING=1 the same number of objects is also written to the bucket and planned
// by listing it, for comparison (slow to set up beyond 100,000).
//   node bench/inventory.ts [rows]
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';
import { FERRY, timed } from './common.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const withListing = process.env.LISTING === '1';
const server = await startEmbedded();
const client = embeddedClient(server.endpoint);
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-inventory-'));
for (const Bucket of ['big', 'empty', 'reports']) await client.send(new CreateBucketCommand({ Bucket }));

const keyOf = (i: number) => `p${i % 16}/${createHash('md5').update(String(i)).digest('hex')}`;
const PER_FILE = 100_000;
const files: { key: string; size: number; MD5checksum: string }[] = [];
for (let start = 0; start < rows; start += PER_FILE) {
  const lines: string[] = [];
  for (let i = start; i < Math.min(rows, start + PER_FILE); i++) {
    lines.push(`"big","${encodeURIComponent(keyOf(i))}","${1000 + (i % 4096)}","2026-11-20T00:00:00.000Z","0123456789abcdef0123456789abcdef","STANDARD"`);
  }
  const body = gzipSync(`${lines.join('\n')}\n`);
  const key = `inv/big/all/2026-11-20T00-00Z/data/${files.length}.csv.gz`;
  await client.send(new PutObjectCommand({ Bucket: 'reports', Key: key, Body: body }));
  files.push({ key, size: body.length, MD5checksum: createHash('md5').update(body).digest('hex') });
}
const manifest = {
  sourceBucket: 'big',
  destinationBucket: 'arn:aws:s3:::reports',
  fileFormat: 'CSV',
  fileSchema: 'Bucket, Key, Size, LastModifiedDate, ETag, StorageClass',
  creationTimestamp: String(Date.parse('2026-11-20T00:00:00Z')),
  files,
};
await client.send(new PutObjectCommand({ Bucket: 'reports', Key: 'inv/big/all/2026-11-20T00-00Z/manifest.json', Body: JSON.stringify(manifest) }));
process.stderr.write(`bench: an inventory of ${rows} rows in ${files.length} files at ${server.endpoint}\n`);

const env = { AWS_ENDPOINT_URL: server.endpoint };
const plan = (tool: string, extra: string[]) =>
  timed(tool, process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, 'plan', 's3://big', 's3://empty', '--json', '--job-dir', path.join(work, tool), ...extra], env, work);
const results = [await plan('ferry-inventory', ['--from-inventory', 's3://reports/inv/big/all/2026-11-20T00-00Z/manifest.json'])];
if (withListing) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < rows) {
        const i = next++;
        await client.send(new PutObjectCommand({ Bucket: 'big', Key: keyOf(i), Body: 'x' }));
      }
    }),
  );
  results.push(await plan('ferry-listing', []));
}
process.stdout.write('| run | rows | seconds | rows/s | CPU s | peak RSS MB |\n|---|---|---|---|---|---|\n');
for (const r of results) {
  process.stdout.write(`| ${r.tool} | ${rows.toLocaleString('en-US')} | ${r.seconds.toFixed(2)} | ${Math.round(rows / r.seconds).toLocaleString('en-US')} | ${r.cpu.toFixed(2)} | ${Math.round(r.peakMb)} |\n`);
}
await server.stop();
await rm(work, { recursive: true, force: true });
