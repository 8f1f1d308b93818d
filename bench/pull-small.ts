#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Small pulls at default settings: N x 4 KB objects in 100 prefixes, served by `ferry serve` in its
// own process or, with BENCH_TARGET=radosgw, by a one-node Ceph cluster's radosgw (test/ceph/ceph.sh),
// pulled onto tmpfs (/dev/shm) and onto the disk (the system's temporary directory) by ferry and
// rclone (--transfers 64), which goes first alternating from round to round, ROUNDS times each.
// The disk's directories are removed only at the end: this machine's ext4 has no journal and does
// not reuse an inode freed in the last minutes, so a pull right after `rm -rf` of the last one
// would pay for the deletion (docs/benchmarks.md).
//   node bench/pull-small.ts [objects] [rounds]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { credentials, destinationTable, type Measured, putSmallObjects, serveSmallObjects, timed, toolCommand } from './common.ts';

const objects = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 5);
const onRadosgw = process.env.BENCH_TARGET === 'radosgw';
const { endpoint, stop } = onRadosgw ? await radosgwWithSmallObjects() : await serveSmallObjects(objects);
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-small-'));
const runs: Record<string, Measured[]> = {};
try {
  for (let round = 0; round < rounds; round++) {
    for (const [where, base] of [['tmpfs', '/dev/shm'], ['disk', work]] as const) {
      for (const tool of round % 2 === 0 ? ['ferry', 'rclone'] : ['rclone', 'ferry']) {
        const into = path.join(base, `ferry-bench-pulled-${tool}-${round}`);
        (runs[`${where} | ${tool}`] ??= []).push(await timed(tool, ...(await toolCommand(tool, 's3://small', into, endpoint, work)), work));
        if (where === 'tmpfs') await rm(into, { recursive: true, force: true });
      }
    }
  }
  process.stdout.write(destinationTable(runs, { header: 'files/s', of: (wall) => objects / wall }));
} finally {
  await rm(work, { recursive: true, force: true });
  await stop();
}

async function radosgwWithSmallObjects(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  Object.assign(credentials, RGW_CREDENTIALS);
  const rgw = await startRadosgw();
  await rgw.client.send(new CreateBucketCommand({ Bucket: 'small' }));
  await putSmallObjects(rgw.client, objects);
  return { endpoint: rgw.endpoint, stop: rgw.stop };
}
