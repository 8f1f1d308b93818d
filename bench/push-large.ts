#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Pushes of 16 x 64 MiB files from tmpfs (/dev/shm, so that disk reads stay out of the figures) to a
// one-node Ceph cluster's radosgw (test/ceph/ceph.sh; memstore, in RAM: CEPH_MEMSTORE_BYTES=8589934592
// leaves room), by ferry and rclone (--transfers 64, 8 MiB parts as ferry's) in turn, which goes
// first alternating from round to round, ROUNDS times each; each push goes to an empty bucket,
// emptied again after it (and radosgw's garbage collected: memstore keeps deleted data until then).
//   node bench/push-large.ts [rounds]
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { countObjects, credentials, type Measured, median, timed, toolCommand } from './common.ts';

const rounds = Number(process.argv[2] ?? 3);
Object.assign(credentials, RGW_CREDENTIALS);
const rgw = await startRadosgw();
const work = await mkdtemp('/dev/shm/ferry-bench-push-large-');

async function empty(client: S3Client, bucket: string): Promise<void> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
  if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  execFileSync('radosgw-admin', ['-c', rgw.conf, 'gc', 'process', '--include-all'], { stdio: 'ignore' });
}

try {
  const tree = path.join(work, 'tree');
  await mkdir(tree);
  const body = Buffer.alloc(64 * 1024 * 1024, 7);
  for (let i = 0; i < 16; i++) await writeFile(path.join(tree, `f${i}`), body);
  const runs: Record<string, Measured[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const tool of round % 2 === 0 ? ['ferry', 'rclone'] : ['rclone', 'ferry']) {
      const bucket = `push-${tool}`;
      if (round === 0) await rgw.client.send(new CreateBucketCommand({ Bucket: bucket }));
      (runs[tool] ??= []).push(await timed(tool, ...(await toolCommand(tool, tree, `s3://${bucket}`, rgw.endpoint, work)), work));
      const landed = await countObjects(rgw.client, bucket);
      if (landed !== 16) throw new Error(`${tool} pushed ${landed} objects of 16`);
      await empty(rgw.client, bucket);
      await rm(path.join(work, 'jobs'), { recursive: true, force: true });
    }
  }
  const rclone = median(runs.rclone!.map((m) => m.seconds));
  process.stdout.write('| tool | wall s (each run) | median | MB/s | CPU s (median) | peak RSS MB (max) | median vs rclone |\n|---|---|---|---|---|---|---|\n');
  for (const [tool, measured] of Object.entries(runs)) {
    const wall = median(measured.map((m) => m.seconds));
    process.stdout.write(
      `| ${tool} | ${measured.map((m) => m.seconds.toFixed(2)).join(', ')} | ${wall.toFixed(2)} | ${((16 * 64 * 1.048576) / wall).toFixed(0)} | ${median(measured.map((m) => m.cpu)).toFixed(2)} | ${Math.round(Math.max(...measured.map((m) => m.peakMb)))} | ${(wall / rclone).toFixed(2)} |\n`,
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
  await rgw.stop();
}
