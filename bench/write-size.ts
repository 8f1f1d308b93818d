#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// What a write's size costs the kernel: 16 files of 64 MiB written at once (interleaved, as 16
// downloads arrive), with synchronous writes of each size in turn, ROUNDS times, into DIR (default
// the system's temporary directory). Prints the system CPU of each run: Linux's page cache takes a
// folio as large as the write (ext4 since 6.16, xfs), and where the larger ones come from decides it.
// Each run starts on warm memory (warmMemory in bench/common.ts), or with BENCH_MEMORY=returned on
// memory the hypervisor has taken back (it waits until the guest has reported every freed page).
//   node bench/write-size.ts [rounds] [dir] [sizes in KiB, comma-separated]
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, warmMemory } from './common.ts';

const rounds = Number(process.argv[2] ?? 5);
const base = process.argv[3] ?? os.tmpdir();
const sizes = (process.argv[4] ?? '16,32,64,256,1024').split(',').map((k) => Number(k) * 1024);
const FILES = 16;
const FILE_BYTES = 64 * 1024 * 1024;

const systemSeconds: Record<number, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const size of sizes) {
    if (process.env.BENCH_MEMORY === 'returned') untilReported();
    else warmMemory();
    const dir = mkdtempSync(path.join(base, 'ferry-bench-write-'));
    const piece = Buffer.alloc(size, 7);
    const before = process.cpuUsage();
    const fds = Array.from({ length: FILES }, (_, i) => openSync(path.join(dir, `f${i}`), 'w'));
    for (let at = 0; at < FILE_BYTES; at += size) for (const fd of fds) writeSync(fd, piece);
    for (const fd of fds) closeSync(fd);
    (systemSeconds[size] ??= []).push(process.cpuUsage(before).system / 1e6);
    rmSync(dir, { recursive: true });
    execFileSync('sync'); // no run pays for the write-back of the one before
  }
}
/** Waits until the guest's free page reporting (virtio-balloon) has been still for three seconds. */
function untilReported(): void {
  const reported = () => readFileSync('/sys/module/page_reporting/parameters/reported_kib', 'utf8');
  for (let last = ''; ; ) {
    const now = reported();
    if (now === last) return;
    last = now;
    execFileSync('sleep', ['3']);
  }
}

process.stdout.write('| write size | system CPU s, each run (1 GiB) | median |\n|---|---|---|\n');
for (const size of sizes) {
  const runs = systemSeconds[size]!;
  process.stdout.write(`| ${size / 1024} KiB | ${runs.map((s) => s.toFixed(2)).join(', ')} | ${median(runs).toFixed(2)} |\n`);
}
