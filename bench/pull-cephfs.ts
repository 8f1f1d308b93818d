#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Small pulls onto CephFS: N x 4 KB objects in radosgw pulled into a ceph-fuse mount of the same
// one-node cluster by ferry (this checkout, and any other checkouts named) and by rclone
// (--transfers 64), alternating, ROUNDS times each. A network file system answers each call in a
// round trip, which is what decides how ferry writes there (pull.ts, onLocalFileSystem).
//   node bench/pull-cephfs.ts [objects] [rounds] [ferry-checkouts...]
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { credentials, type Measured, median, putSmallObjects, timed, toolCommand } from './common.ts';

const objects = Number(process.argv[2] ?? 5000);
const rounds = Number(process.argv[3] ?? 3);
const checkouts = [path.resolve(import.meta.dirname, '..'), ...process.argv.slice(4).map((p) => path.resolve(p))];
Object.assign(credentials, RGW_CREDENTIALS);
const rgw = await startRadosgw({ cephfs: true });
try {
  const cephfs = rgw.cephfs as string;
  await rgw.client.send(new CreateBucketCommand({ Bucket: 'small' }));
  await putSmallObjects(rgw.client, objects);
  process.stderr.write(`bench: ${objects} x 4 KB in radosgw, pulled onto CephFS\n`);
  const work = path.dirname(cephfs);
  const variants = [...checkouts.map((c, i) => [i ? `ferry (${path.basename(c)})` : 'ferry', c] as const), ['rclone', ''] as const];
  const runs: Record<string, Measured[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, checkout] of variants) {
      const dir = path.join(cephfs, `pulled-${round}-${name.replace(/\W+/g, '-')}`);
      const [command, args, env] = await toolCommand(checkout ? 'ferry' : 'rclone', 's3://small', dir, rgw.endpoint, work);
      if (checkout) args[1] = path.join(checkout, 'bin/ferry.ts');
      const measured = await timed(name.replace(/\W+/g, '-'), command, args, env, work);
      let files = 0;
      for (const d of await readdir(dir)) files += (await readdir(path.join(dir, d))).length;
      if (files !== objects) throw new Error(`${name} pulled ${files} files, not ${objects}`);
      (runs[name] ??= []).push(measured);
      await rm(dir, { recursive: true, force: true });
    }
  }
  const rclone = median(runs.rclone!.map((r) => r.seconds));
  process.stdout.write(`\n${objects} x 4 KB from radosgw onto CephFS (ceph-fuse), ${rounds} rounds\n`);
  process.stdout.write('| tool | wall s (each run) | median | files/s | CPU s (median) | peak RSS MB (max) | median vs rclone |\n|---|---|---|---|---|---|---|\n');
  for (const [name, measured] of Object.entries(runs)) {
    const wall = median(measured.map((m) => m.seconds));
    process.stdout.write(
      `| ${name} | ${measured.map((m) => m.seconds.toFixed(2)).join(', ')} | ${wall.toFixed(2)} | ${(objects / wall).toFixed(0)} | ${median(measured.map((m) => m.cpu)).toFixed(2)} | ${Math.round(Math.max(...measured.map((m) => m.peakMb)))} | ${(wall / rclone).toFixed(2)} |\n`,
    );
  }
} finally {
  await rgw.stop();
}
