#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Push of a directory tree to an S3 endpoint, then pull of it back to disk: 20,000 x 4 KB files,
// then 16 x 64 MiB files, with ferry at its defaults, rclone (--transfers 64 --checkers 64) and
// aws-cli v2 (max_concurrent_requests 64), in one run. The endpoint is the embedded one, or with
// BENCH_TARGET=radosgw a one-node Ceph cluster's radosgw (test/ceph/ceph.sh; memstore, in RAM).
//   node bench/push-pull.ts [small-files] [tools...]      (0 small files: the large set only)
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { countObjects, credentials, type Measured, table, timed, toolCommand } from './common.ts';

const small = Number(process.argv[2] ?? 20_000);
const tools = process.argv.slice(3).length ? process.argv.slice(3) : ['ferry', 'rclone', 'awscli'];
const onRadosgw = process.env.BENCH_TARGET === 'radosgw';
if (onRadosgw) Object.assign(credentials, RGW_CREDENTIALS);
const server = onRadosgw ? await startRadosgw() : await startEmbedded();
const client = onRadosgw ? (server as Awaited<ReturnType<typeof startRadosgw>>).client : embeddedClient(server.endpoint);
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-push-'));

const sets = [
  { name: 'small', files: small, size: 4096 },
  { name: 'large', files: 16, size: 64 * 1024 * 1024 },
].filter((set) => set.files > 0);
for (const set of sets) {
  const dir = path.join(work, set.name);
  const body = Buffer.alloc(set.size, 7);
  for (let i = 0; i < set.files; i++) {
    const sub = path.join(dir, `d${i % 100}`);
    if (i < 100) await mkdir(sub, { recursive: true });
    await writeFile(path.join(sub, `f-${String(i).padStart(7, '0')}`), body);
  }
}
process.stderr.write(`bench: ${small} x 4 KB and 16 x 64 MiB files under ${work}; endpoint ${server.endpoint}\n`);

for (const set of sets) {
  const runs: (Measured & { objects: number; bytes: number })[] = [];
  for (const tool of tools) {
    const bucket = `push-${set.name}-${tool}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const [command, args, env] = await toolCommand(tool, path.join(work, set.name), `s3://${bucket}`, server.endpoint, work);
    execFileSync('sync'); // no tool pays for the write-back of the files just written
    try {
      const m = await timed(`${tool}-${set.name}`, command, args, env, work);
      const objects = await countObjects(client, bucket);
      runs.push({ ...m, tool, objects, bytes: objects * set.size });
      process.stderr.write(`bench: ${tool} ${set.name} done in ${m.seconds} s\n`);
    } catch (err) {
      // A tool that fails against this endpoint is reported as failed, and the others still run.
      process.stderr.write(`bench: ${tool} ${set.name} FAILED: ${(err as Error).message}\n`);
    }
  }
  process.stdout.write(`\npush, ${set.name}: ${set.files} x ${set.size} bytes\n${table(runs)}\n`);

  // Pull: every tool reads back the same bucket (the first complete push) into a fresh directory.
  const from = runs.find((r) => r.objects === set.files);
  if (!from) continue;
  const pulls: (Measured & { objects: number; bytes: number })[] = [];
  for (const tool of tools) {
    const into = path.join(work, `pulled-${set.name}-${tool}`);
    const [command, args, env] = await toolCommand(tool, `s3://push-${set.name}-${from.tool}`, into, server.endpoint, work);
    execFileSync('sync');
    try {
      const m = await timed(`${tool}-pull-${set.name}`, command, args, env, work);
      const objects = (await readdir(into, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
      pulls.push({ ...m, tool, objects, bytes: objects * set.size });
      process.stderr.write(`bench: ${tool} pull ${set.name} done in ${m.seconds} s\n`);
    } catch (err) {
      process.stderr.write(`bench: ${tool} pull ${set.name} FAILED: ${(err as Error).message}\n`);
    }
  }
  process.stdout.write(`\npull, ${set.name}: ${set.files} x ${set.size} bytes\n${table(pulls)}\n`);
}
await server.stop();
await rm(work, { recursive: true, force: true });
