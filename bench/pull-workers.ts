#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Small pulls with download workers: N x 4 KB objects served by `ferry serve` in its own process,
// pulled onto tmpfs (/dev/shm, so that the disk's write-back stays out of the figures) by ferry with
// FERRY_PULL_WORKERS=0, 1 and 2 and by rclone (--transfers 64), alternating, ROUNDS times each.
//   node bench/pull-workers.ts [objects] [rounds]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { embeddedClient } from '../lib/local/server.ts';
import { FERRY, type Measured, timed, toolCommand } from './common.ts';

const objects = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const port = 4800 + Math.floor(Math.random() * 100);
const serve = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, 'serve', '--port', String(port)], { stdio: 'ignore' });
const endpoint = `http://127.0.0.1:${port}`;
const client = embeddedClient(endpoint);
for (let i = 0; ; i++) {
  try {
    await client.send(new CreateBucketCommand({ Bucket: 'small' }));
    break;
  } catch (err) {
    if (i > 50) throw err;
    await new Promise((r) => setTimeout(r, 200));
  }
}
let next = 0;
const body = Buffer.alloc(4096, 7);
await Promise.all(
  Array.from({ length: 64 }, async () => {
    while (next < objects) {
      const i = next++;
      await client.send(new PutObjectCommand({ Bucket: 'small', Key: `d${i % 100}/f${i}`, Body: body }));
    }
  }),
);
const work = await mkdtemp('/dev/shm/ferry-bench-pull-');
const runs: Record<string, Measured[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const variant of ['ferry-0', 'ferry-1', 'ferry-2', 'rclone']) {
    const dir = path.join(work, `${variant}-${round}`);
    const [command, args, env] = await toolCommand(variant.startsWith('ferry') ? 'ferry' : 'rclone', 's3://small', dir, endpoint, work);
    const workers = variant.startsWith('ferry') ? { FERRY_PULL_WORKERS: variant.slice('ferry-'.length) } : {};
    (runs[variant] ??= []).push(await timed(variant, command, args, { ...env, ...workers }, work));
    await rm(dir, { recursive: true, force: true });
  }
}
serve.kill('SIGTERM');
const rclone = runs.rclone!.map((r) => r.seconds).sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
process.stdout.write('| variant | wall s (each run) | median | CPU s (median) | peak RSS MB (max) | median vs rclone |\n|---|---|---|---|---|---|\n');
for (const [variant, measured] of Object.entries(runs)) {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const wall = median(measured.map((m) => m.seconds));
  process.stdout.write(
    `| ${variant} | ${measured.map((m) => m.seconds.toFixed(2)).join(', ')} | ${wall.toFixed(2)} | ${median(measured.map((m) => m.cpu)).toFixed(2)} | ${Math.round(Math.max(...measured.map((m) => m.peakMb)))} | ${(wall / rclone).toFixed(2)} |\n`,
  );
}
await rm(work, { recursive: true, force: true });
