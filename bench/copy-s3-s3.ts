#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Bucket-to-bucket copy of N x 4 KB objects (default 20,000) on the embedded endpoint, with ferry
// at its defaults, rclone at its best flags (--transfers 64 --checkers 64, server-side copy) and
// aws-cli v2 (max_concurrent_requests 64), in one run. Each tool runs under GNU time for wall
// time, CPU seconds and peak memory; each destination is counted afterwards.
//   npm run bench -- [objects] [tools...]      e.g. npm run bench -- 20000 ferry rclone awscli
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Pool } from '../lib/core/pool.ts';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';

const count = Number(process.argv[2] ?? 20_000);
const tools = process.argv.slice(3).length ? process.argv.slice(3) : ['ferry', 'rclone', 'awscli'];
const server = await startEmbedded();
const client = embeddedClient(server.endpoint);
const env = { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-'));

interface Measured {
  tool: string;
  seconds: number;
  cpu: number;
  peakMb: number;
  copied: number;
}

function timed(tool: string, command: string, args: string[], extraEnv: NodeJS.ProcessEnv): Promise<Omit<Measured, 'copied'>> {
  const timeFile = path.join(work, `${tool}.time`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, command, ...args], {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', async (code) => {
      if (code !== 0) return reject(new Error(`${tool} exited with ${code}`));
      const { readFile } = await import('node:fs/promises');
      const [e, u, s, m] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number) as number[];
      resolve({ tool, seconds: e!, cpu: u! + s!, peakMb: m! / 1024 });
    });
  });
}

async function countObjects(bucket: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    n += page.KeyCount ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  return n;
}

await client.send(new CreateBucketCommand({ Bucket: 'bench-src' }));
const pool = new Pool({ initial: 64, adaptive: false });
const body = Buffer.alloc(4096, 7);
await Promise.all(
  Array.from({ length: count }, (_, i) =>
    pool.run(() =>
      client.send(new PutObjectCommand({ Bucket: 'bench-src', Key: `d${i % 100}/obj-${String(i).padStart(7, '0')}`, Body: body })),
    ),
  ),
);
process.stderr.write(`bench: ${count} x 4 KB objects in s3://bench-src at ${server.endpoint}\n`);

const runs: Measured[] = [];
const ferry = fileURLToPath(new URL('../bin/ferry.ts', import.meta.url));
for (const tool of tools) {
  const bucket = `bench-dst-${tool}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  let m: Omit<Measured, 'copied'>;
  if (tool === 'ferry') {
    m = await timed(tool, process.execPath, ['--disable-warning=ExperimentalWarning', ferry, 'copy', 's3://bench-src', `s3://${bucket}`, '--json', '--job-dir', path.join(work, 'jobs')], {
      AWS_ENDPOINT_URL: server.endpoint,
    });
  } else if (tool === 'rclone') {
    const rc = { RCLONE_CONFIG_BENCH_TYPE: 's3', RCLONE_CONFIG_BENCH_PROVIDER: 'Other', RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint, RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: 'local', RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: 'local', RCLONE_CONFIG_BENCH_REGION: 'us-east-1', AWS_CA_BUNDLE: '' };
    m = await timed(tool, 'rclone', ['copy', 'bench:bench-src', `bench:${bucket}`, '--transfers', '64', '--checkers', '64'], rc);
  } else if (tool === 'awscli') {
    const config = path.join(work, 'aws-config');
    await writeFile(config, '[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 64\n');
    m = await timed(tool, '/usr/bin/aws', ['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', server.endpoint, 's3://bench-src', `s3://${bucket}`], {
      AWS_CONFIG_FILE: config,
    });
  } else {
    throw new Error(`unknown tool ${tool}`);
  }
  runs.push({ ...m, copied: await countObjects(bucket) });
  process.stderr.write(`bench: ${tool} done in ${m.seconds} s\n`);
}
await server.stop();

const base = runs.find((r) => r.tool === 'rclone');
const lines = [
  `| tool | objects copied | wall s | objects/s | CPU s | peak RSS MB | time vs rclone |`,
  `|---|---|---|---|---|---|---|`,
  ...runs.map(
    (r) =>
      `| ${r.tool} | ${r.copied} | ${r.seconds.toFixed(2)} | ${(r.copied / r.seconds).toFixed(0)} | ${r.cpu.toFixed(2)} | ${r.peakMb.toFixed(0)} | ${base ? (r.seconds / base.seconds).toFixed(2) : '-'} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
