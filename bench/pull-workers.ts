#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Small pulls with download workers: N x 4 KB objects served by `ferry serve` in its own process,
// pulled onto tmpfs (/dev/shm, so that the disk's write-back stays out of the figures) by ferry with
// FERRY_PULL_WORKERS=0, 1 and 2 and by rclone (--transfers 64), alternating, ROUNDS times each.
//   node bench/pull-workers.ts [objects] [rounds]
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Measured, median, serveSmallObjects, timed, toolCommand } from './common.ts';

const objects = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const { endpoint, stop } = await serveSmallObjects(objects);
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
stop();
const rclone = median(runs.rclone!.map((r) => r.seconds));
process.stdout.write('| variant | wall s (each run) | median | CPU s (median) | peak RSS MB (max) | median vs rclone |\n|---|---|---|---|---|---|\n');
for (const [variant, measured] of Object.entries(runs)) {
  const wall = median(measured.map((m) => m.seconds));
  process.stdout.write(
    `| ${variant} | ${measured.map((m) => m.seconds.toFixed(2)).join(', ')} | ${wall.toFixed(2)} | ${median(measured.map((m) => m.cpu)).toFixed(2)} | ${Math.round(Math.max(...measured.map((m) => m.peakMb)))} | ${(wall / rclone).toFixed(2)} |\n`,
  );
}
await rm(work, { recursive: true, force: true });
