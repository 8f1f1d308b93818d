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
import { credentials, type Measured, median, timed, toolCommand } from './common.ts';

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
  process.stdout.write('| destination | tool | wall s (each run) | median | MB/s | CPU s (median) | peak RSS MB (max) | median vs rclone |\n|---|---|---|---|---|---|---|---|\n');
  for (const [name, measured] of Object.entries(runs)) {
    const wall = median(measured.map((m) => m.seconds));
    const rclone = median(runs[`${name.split(' | ')[0]} | rclone`]!.map((m) => m.seconds));
    process.stdout.write(
      `| ${name} | ${measured.map((m) => m.seconds.toFixed(2)).join(', ')} | ${wall.toFixed(2)} | ${((16 * 64 * 1.048576) / wall).toFixed(0)} | ${median(measured.map((m) => m.cpu)).toFixed(2)} | ${Math.round(Math.max(...measured.map((m) => m.peakMb)))} | ${(wall / rclone).toFixed(2)} |\n`,
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
  await rgw.stop();
}
