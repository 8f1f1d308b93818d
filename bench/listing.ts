#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Planning a bucket of many keys: `ferry plan` (the sync planner: both sides listed and decided)
// with its key ranges listed at once, against the same ferry at OLD_CHECKOUT (one listing stream),
// and rclone's and aws-cli's recursive listings of the same bucket for reference. radosgw (a
// one-node Ceph cluster, memstore) by default; with BENCH_TARGET=embedded the embedded endpoint.
// Every request of the ferry runs can be delayed by DELAY_MS through a proxy, as a distant
// region's round trip would be.
// With 0 prefixes the keys are flat (hex MD5s, no '/'), split at sampled keys.
//   node bench/listing.ts [keys] [prefixes] [OLD_CHECKOUT]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';
import { RGW_CREDENTIALS, startRadosgw } from '../test/ceph.ts';
import { credentials, FERRY, timed } from './common.ts';

const keys = Number(process.argv[2] ?? 50_000);
const prefixes = Number(process.argv[3] ?? 100);
const old = process.argv[4];
const delayMs = Number(process.env.DELAY_MS ?? 0);
const onEmbedded = process.env.BENCH_TARGET === 'embedded';
if (!onEmbedded) Object.assign(credentials, RGW_CREDENTIALS);
const server = onEmbedded ? await startEmbedded() : await startRadosgw();
const client: S3Client = onEmbedded ? embeddedClient(server.endpoint) : (server as Awaited<ReturnType<typeof startRadosgw>>).client;
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-listing-'));

await client.send(new CreateBucketCommand({ Bucket: 'many' }));
await client.send(new CreateBucketCommand({ Bucket: 'empty' }));
let next = 0;
await Promise.all(
  Array.from({ length: 64 }, async () => {
    while (next < keys) {
      const i = next++;
      const key = prefixes > 0 ? `p${String(i % prefixes).padStart(4, '0')}/k${i}` : createHash('md5').update(String(i)).digest('hex');
      await client.send(new PutObjectCommand({ Bucket: 'many', Key: key, Body: 'x' }));
    }
  }),
);
process.stderr.write(`bench: ${keys} keys in ${prefixes} prefixes at ${server.endpoint}\n`);

// A proxy that holds each request DELAY_MS before passing it on.
const target = new URL(server.endpoint);
const proxy = http.createServer((req, res) => {
  setTimeout(() => {
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  }, delayMs);
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

const env = {
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_REGION: 'us-east-1',
};
const runs: [string, string, string[], NodeJS.ProcessEnv][] = [
  ['ferry plan (key ranges)', process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, 'plan', 's3://many', 's3://empty', '--job-dir', work], env],
];
if (old) {
  runs.push(['ferry plan (one stream)', process.execPath, ['--disable-warning=ExperimentalWarning', path.join(old, 'bin/ferry.ts'), 'plan', 's3://many', 's3://empty', '--job-dir', work], env]);
}
const rclone = { RCLONE_CONFIG_B_TYPE: 's3', RCLONE_CONFIG_B_PROVIDER: 'Other', RCLONE_CONFIG_B_ENDPOINT: endpoint, RCLONE_CONFIG_B_ACCESS_KEY_ID: credentials.accessKeyId, RCLONE_CONFIG_B_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_CA_BUNDLE: '' };
runs.push(['rclone lsf -R --files-only', 'rclone', ['lsf', '-R', '--files-only', 'b:many'], rclone]);
runs.push(['aws s3 ls --recursive', '/usr/bin/aws', ['s3', 'ls', '--recursive', '--endpoint-url', endpoint, 's3://many'], env]);

process.stdout.write(`\n${keys} keys in ${prefixes} prefixes, ${delayMs} ms added per request\n| command | wall s | CPU s | peak RSS MB |\n|---|---|---|---|\n`);
for (const [name, command, args, extra] of runs) {
  spawnSync('sync');
  const m = await timed(name, command, args, extra, work);
  process.stdout.write(`| ${name} | ${m.seconds} | ${m.cpu.toFixed(2)} | ${Math.round(m.peakMb)} |\n`);
}
proxy.close();
await server.stop();
await rm(work, { recursive: true, force: true });
