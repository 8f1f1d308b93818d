#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Pulls of 16 x 64 MiB objects (pushed by ferry, so in parts) from a one-node Ceph cluster's
// radosgw (test/ceph/ceph.sh; memstore, in RAM: CEPH_MEMSTORE_BYTES=8589934592 leaves room) onto
// tmpfs (/dev/shm) and onto the disk (the system's temporary directory), by ferry and rclone
// (--transfers 64) in turn, which goes first alternating from round to round, ROUNDS times each:
// one run of push-pull.ts is one sample, always in the same order, and the disk's figures here vary
// from run to run.
//   node bench/pull-large.ts [rounds]
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { credentials, destinationTable, type Measured, timed, toolCommand } from './common.ts';

const rounds = Number(process.argv[2] ?? 3);
Object.assign(credentials, RGW_CREDENTIALS);
const rgw = await startRadosgw();
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-large-'));
try {
  const tree = path.join(work, 'tree');
  await mkdir(tree);
  const body = Buffer.alloc(64 * 1024 * 1024, 7);
  for (let i = 0; i < 16; i++) await writeFile(path.join(tree, `f${i}`), body);
  await rgw.client.send(new CreateBucketCommand({ Bucket: 'large' }));
  await timed('fill', ...(await toolCommand('ferry', tree, 's3://large', rgw.endpoint, work)), work);
  const runs: Record<string, Measured[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [where, base] of [['tmpfs', '/dev/shm'], ['disk', work]] as const) {
      for (const tool of round % 2 === 0 ? ['ferry', 'rclone'] : ['rclone', 'ferry']) {
        const into = path.join(base, `ferry-bench-pulled-${tool}`);
        execFileSync('sync'); // no run pays for the write-back of the one before
        (runs[`${where} | ${tool}`] ??= []).push(await timed(tool, ...(await toolCommand(tool, 's3://large', into, rgw.endpoint, work)), work));
        await rm(into, { recursive: true, force: true });
      }
    }
  }
  process.stdout.write(destinationTable(runs, { header: 'MB/s', of: (wall) => (16 * 64 * 1.048576) / wall }));
} finally {
  await rm(work, { recursive: true, force: true });
  await rgw.stop();
}
