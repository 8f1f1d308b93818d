#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Bucket-to-bucket copy of N x 4 KB objects (default 20,000) on the embedded endpoint, with ferry
// at its defaults, rclone at its best flags (--transfers 64 --checkers 64, server-side copy) and
// aws-cli v2 (max_concurrent_requests 64), in one run.
//   npm run bench -- [objects] [tools...]      e.g. npm run bench -- 20000 ferry rclone awscli
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Pool } from '../lib/core/pool.ts';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';
import { countObjects, type Measured, table, timed, toolCommand } from './common.ts';

const count = Number(process.argv[2] ?? 20_000);
const tools = process.argv.slice(3).length ? process.argv.slice(3) : ['ferry', 'rclone', 'awscli'];
const server = await startEmbedded();
const client = embeddedClient(server.endpoint);
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-'));

await client.send(new CreateBucketCommand({ Bucket: 'bench-src' }));
const pool = new Pool({ initial: 64, adaptive: false });
const body = Buffer.alloc(4096, 7);
await Promise.all(
  Array.from({ length: count }, (_, i) =>
    pool.run(() => client.send(new PutObjectCommand({ Bucket: 'bench-src', Key: `d${i % 100}/obj-${String(i).padStart(7, '0')}`, Body: body }))),
  ),
);
process.stderr.write(`bench: ${count} x 4 KB objects in s3://bench-src at ${server.endpoint}\n`);

const runs: (Measured & { objects: number; bytes: number })[] = [];
for (const tool of tools) {
  const bucket = `bench-dst-${tool}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const [command, args, env] = await toolCommand(tool, 's3://bench-src', `s3://${bucket}`, server.endpoint, work);
  const m = await timed(tool, command, args, env, work);
  const objects = await countObjects(client, bucket);
  runs.push({ ...m, objects, bytes: objects * 4096 });
  process.stderr.write(`bench: ${tool} done in ${m.seconds} s\n`);
}
await server.stop();
await rm(work, { recursive: true, force: true });
process.stdout.write(`${table(runs)}\n`);
