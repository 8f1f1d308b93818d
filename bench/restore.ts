#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// A point-in-time restore of a versioned bucket on radosgw (a one-node Ceph cluster, memstore):
// every key written once before T and once after, one in ten deleted after T. `ferry restore --at T`
// (version listing, then server-side copies of the versions of T) against `rclone copy
// --s3-version-at T` on the same bucket, each into an empty bucket; then `ferry plan --at T`
// (the listing alone) against `rclone lsf -R --s3-version-at T`. Every restored byte is checked.
//   node bench/restore.ts [keys]
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { listAll } from '../test/helpers.ts';
import { credentials, FERRY, timed } from './common.ts';

const keys = Number(process.argv[2] ?? 10_000);
Object.assign(credentials, RGW_CREDENTIALS);
const rgw = await startRadosgw();
const client = rgw.client;
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-restore-'));
for (const Bucket of ['versioned', 'empty', 'by-ferry', 'by-rclone']) await client.send(new CreateBucketCommand({ Bucket }));
await client.send(new PutBucketVersioningCommand({ Bucket: 'versioned', VersioningConfiguration: { Status: 'Enabled' } }));

const key = (i: number) => `p${String(i % 100).padStart(3, '0')}/k${i}`;
const body = (i: number, round: number) => `key ${i}, round ${round}: ${'x'.repeat(i % 200)}`;
const each = async (work: (i: number) => Promise<unknown>) => {
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => { while (next < keys) await work(next++); }));
};
await each((i) => client.send(new PutObjectCommand({ Bucket: 'versioned', Key: key(i), Body: body(i, 1) })));
await new Promise((r) => setTimeout(r, 1500));
const T = new Date().toISOString();
await new Promise((r) => setTimeout(r, 1500));
await each((i) => client.send(new PutObjectCommand({ Bucket: 'versioned', Key: key(i), Body: body(i, 2) })));
await each((i) => (i % 10 === 0 ? client.send(new DeleteObjectCommand({ Bucket: 'versioned', Key: key(i) })) : Promise.resolve()));
process.stderr.write(`bench: ${keys} keys, ${keys * 2} versions and ${keys / 10} delete markers; T = ${T}\n`);

const env = { AWS_ENDPOINT_URL: rgw.endpoint, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
// rclone's --s3-version-at would apply to the destination too (which it then refuses to write):
// the source remote V has version_at, the destination remote B has not.
const rclone = {
  RCLONE_CONFIG_V_TYPE: 's3',
  RCLONE_CONFIG_V_PROVIDER: 'Ceph',
  RCLONE_CONFIG_V_ENDPOINT: rgw.endpoint,
  RCLONE_CONFIG_V_ACCESS_KEY_ID: credentials.accessKeyId,
  RCLONE_CONFIG_V_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  RCLONE_CONFIG_V_VERSION_AT: T,
  RCLONE_CONFIG_B_TYPE: 's3',
  RCLONE_CONFIG_B_PROVIDER: 'Ceph',
  RCLONE_CONFIG_B_ENDPOINT: rgw.endpoint,
  RCLONE_CONFIG_B_ACCESS_KEY_ID: credentials.accessKeyId,
  RCLONE_CONFIG_B_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_CA_BUNDLE: '',
};
const ferry = (...args: string[]) => ['--disable-warning=ExperimentalWarning', FERRY, ...args, '--job-dir', work];
const runs: [string, string, string[], NodeJS.ProcessEnv, string?][] = [
  ['ferry restore --at T', process.execPath, ferry('restore', 's3://versioned', 's3://by-ferry', '--at', T), env, 'by-ferry'],
  ['rclone copy (version_at T) --transfers 64', 'rclone', ['copy', '--transfers', '64', '--checkers', '64', 'v:versioned', 'b:by-rclone'], rclone, 'by-rclone'],
  ['ferry plan --at T', process.execPath, ferry('plan', 's3://versioned', 's3://empty', '--at', T), env],
  ['rclone lsf -R (version_at T)', 'rclone', ['lsf', '-R', '--files-only', 'v:versioned'], rclone],
];

process.stdout.write(`\n${keys} keys (two versions each, ${keys / 10} deleted after T) on radosgw\n| command | wall s | CPU s | peak RSS MB | restored right |\n|---|---|---|---|---|\n`);
for (const [name, command, args, extra, bucket] of runs) {
  spawnSync('sync');
  const m = await timed(name, command, args, extra, work);
  let right = '';
  if (bucket) {
    // Every key of T, each with its first-round bytes, and nothing else (read 32 at a time).
    const listed = await listAll(client, bucket, '');
    let wrong = keys - listed.length;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < keys) {
          const i = next++;
          const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(i) })).catch(() => undefined);
          if ((await got?.Body?.transformToString()) !== body(i, 1)) wrong++;
        }
      }),
    );
    right = wrong === 0 ? `yes (${listed.length} keys)` : `NO (${listed.length} keys, ${wrong} wrong)`;
  }
  process.stdout.write(`| ${name} | ${m.seconds} | ${m.cpu.toFixed(2)} | ${Math.round(m.peakMb)} | ${right} |\n`);
}
await rgw.stop();
await rm(work, { recursive: true, force: true });
