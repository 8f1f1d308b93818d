#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The walk of a tree on CephFS (ceph-fuse), as `ferry copy DIR s3://B --dry-run` does it (walk and
// manifests, nothing sent), against `find` and `rclone lsf -R` over the same tree. Each run reads
// through a fresh ceph-fuse mount, so no client cache from an earlier run helps it.
//   node bench/walk.ts [dirs] [files-per-dir] [ferry-checkouts...]
// Extra arguments name other ferry checkouts (directories) to time beside this one.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { credentials, timed } from './common.ts';

const dirs = Number(process.argv[2] ?? 2000);
const perDir = Number(process.argv[3] ?? 5);
const checkouts = [path.resolve(import.meta.dirname, '..'), ...process.argv.slice(4).map((p) => path.resolve(p))];
Object.assign(credentials, RGW_CREDENTIALS);
const rgw = await startRadosgw({ cephfs: true });
const cephfs = rgw.cephfs as string;
const conf = path.join(path.dirname(cephfs), 'ceph.conf');
await rgw.client.send(new CreateBucketCommand({ Bucket: 'walk' }));
const tree = path.join(cephfs, 'tree');
for (let d = 0; d < dirs; d++) {
  const dir = path.join(tree, `a${d % 20}`, `b${d}`);
  await mkdir(dir, { recursive: true });
  for (let f = 0; f < perDir; f++) await writeFile(path.join(dir, `f${f}.txt`), 'x');
}
process.stderr.write(`bench: ${dirs} directories x ${perDir} files on CephFS\n`);

/** A fresh ceph-fuse mount of the same file system: its cache is empty. */
async function freshMount(name: string): Promise<{ dir: string; unmount: () => void }> {
  const dir = path.join(path.dirname(cephfs), name);
  await mkdir(dir, { recursive: true });
  const fuse = spawn('ceph-fuse', ['-c', conf, '--id', 'admin', '-f', dir], { stdio: 'ignore' });
  while (!execFileSync('cat', ['/proc/mounts'], { encoding: 'utf8' }).includes(` ${dir} fuse`)) await new Promise((r) => setTimeout(r, 50));
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir]);
      fuse.kill();
    },
  };
}

const rows: string[] = [];
const runs: [string, (root: string) => [string, string[], NodeJS.ProcessEnv]][] = [
  ['find', (root) => ['find', [root, '-type', 'f'], {}]],
  ['rclone lsf -R', (root) => ['rclone', ['lsf', '-R', '--files-only', root], { AWS_CA_BUNDLE: '' }]],
  ...checkouts.map(
    (c, i) =>
      [
        `ferry${i ? ` (${path.basename(c)})` : ''} --dry-run`,
        (root: string) => [
          process.execPath,
          ['--disable-warning=ExperimentalWarning', path.join(c, 'bin/ferry.ts'), 'copy', root, 's3://walk', '--dry-run', '--json', '--job-dir', path.join(path.dirname(cephfs), 'jobs')],
          { AWS_ENDPOINT_URL: rgw.endpoint },
        ],
      ] as [string, (root: string) => [string, string[], NodeJS.ProcessEnv]],
  ),
];
for (const [name, command] of runs) {
  const mount = await freshMount(`m${rows.length}`);
  try {
    const [cmd, args, env] = command(path.join(mount.dir, 'tree'));
    const m = await timed(name.replace(/\W+/g, '-'), cmd, args, env, path.dirname(cephfs));
    rows.push(`| ${name} | ${m.seconds.toFixed(2)} | ${((dirs * perDir) / m.seconds).toFixed(0)} | ${m.cpu.toFixed(2)} | ${m.peakMb.toFixed(0)} |`);
  } finally {
    mount.unmount();
  }
}
process.stdout.write(`\nwalk of ${dirs} directories x ${perDir} files on CephFS (fresh ceph-fuse mount each)\n`);
process.stdout.write(`| command | wall s | files/s | CPU s | peak RSS MB |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
await rgw.stop();
