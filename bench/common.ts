// What the benchmarks share: tools run as their own processes under GNU time, the way each is
// pointed at the embedded endpoint, and counting what arrived.
import { execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { embeddedClient } from '../lib/local/server.ts';

export const FERRY = fileURLToPath(new URL('../bin/ferry.ts', import.meta.url));

export interface Measured {
  tool: string;
  seconds: number;
  cpu: number;
  peakMb: number;
}

/** The keys every tool signs with: the embedded endpoint takes any; radosgw has its own user. */
export const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

const baseEnv = () => ({
  ...process.env,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
});

/**
 * Memory freed shortly before, for the next run to take. These machines are VMs whose hypervisor
 * takes back memory the guest has freed (virtio-balloon free page reporting, two seconds after the
 * free, a gigabyte and more at a time), and the first touch of each such page costs the guest: here
 * 1 GiB of writes into the page cache took 0.2 s of system CPU on pages in use shortly before and
 * about 3 s on pages handed back, whichever program wrote them. Touching 3 GiB in a process that then
 * exits leaves every run the same memory to start with, as a host whose memory stays its own would.
 */
export function warmMemory(): void {
  execFileSync(process.execPath, ['-e', 'const held = []; for (let i = 0; i < 3; i++) held.push(Buffer.alloc(2 ** 30, 1));']);
}

/** The middle of a set of runs (the upper middle of an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Runs a command under GNU time, on warm memory: wall seconds, user+system CPU seconds, peak RSS. */
export function timed(tool: string, command: string, args: string[], extraEnv: NodeJS.ProcessEnv, work: string): Promise<Measured> {
  warmMemory();
  const timeFile = path.join(work, `${tool}.time`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, command, ...args], {
      env: { ...baseEnv(), ...extraEnv },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', async (code) => {
      if (code !== 0) return reject(new Error(`${tool} exited with ${code}`));
      const last = (await readFile(timeFile, 'utf8')).trim().split('\n').pop() as string;
      const [e, u, s, m] = last.split(' ').map(Number) as [number, number, number, number];
      resolve({ tool, seconds: e, cpu: u + s, peakMb: m / 1024 });
    });
  });
}

/** The command line of each tool for one transfer between a source and a destination (s3:// or a directory). */
export async function toolCommand(tool: string, from: string, to: string, endpoint: string, work: string): Promise<[string, string[], NodeJS.ProcessEnv]> {
  if (tool === 'ferry') {
    return [process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, 'copy', from, to, '--json', '--job-dir', path.join(work, 'jobs')], { AWS_ENDPOINT_URL: endpoint }];
  }
  if (tool === 'rclone') {
    const remote = (l: string) => (l.startsWith('s3://') ? `bench:${l.slice(5)}` : l);
    const env = {
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: credentials.accessKeyId,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
      AWS_CA_BUNDLE: '', // set on these machines, and rclone fails to load it
    };
    // Parts of 8 MiB above 8 MiB, as ferry and aws-cli do: rclone's own cutoff (200 MiB) would send
    // a 64 MiB file in one request, which the embedded endpoint refuses (11 MiB limit).
    return ['rclone', ['copy', remote(from), remote(to), '--transfers', '64', '--checkers', '64', '--s3-upload-cutoff', '8M', '--s3-chunk-size', '8M'], env];
  }
  if (tool === 'awscli') {
    const config = path.join(work, 'aws-config');
    await writeFile(config, '[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 64\n');
    return ['/usr/bin/aws', ['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', endpoint, from, to], { AWS_CONFIG_FILE: config }];
  }
  throw new Error(`unknown tool ${tool}`);
}

export async function countObjects(client: S3Client, bucket: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    n += page.KeyCount ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  return n;
}

/**
 * A markdown table of repeated runs named 'DESTINATION | TOOL': each run's wall time, the medians,
 * a rate from the median (`rate.of`), and the median's ratio to rclone's at the same destination.
 */
export function destinationTable(runs: Record<string, Measured[]>, rate: { header: string; of: (wallSeconds: number) => number }): string {
  const lines = [
    `| destination | tool | wall s (each run) | median | ${rate.header} | CPU s (median) | peak RSS MB (max) | median vs rclone |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, measured] of Object.entries(runs)) {
    const wall = median(measured.map((m) => m.seconds));
    const rclone = median(runs[`${name.split(' | ')[0]} | rclone`]!.map((m) => m.seconds));
    lines.push(
      `| ${name} | ${measured.map((m) => m.seconds.toFixed(2)).join(', ')} | ${wall.toFixed(2)} | ${rate.of(wall).toFixed(0)} | ${median(measured.map((m) => m.cpu)).toFixed(2)} | ${Math.round(Math.max(...measured.map((m) => m.peakMb)))} | ${(wall / rclone).toFixed(2)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A markdown table of runs, with each tool's time as a ratio of rclone's. */
export function table(runs: (Measured & { objects: number; bytes: number })[]): string {
  const base = runs.find((r) => r.tool === 'rclone');
  return [
    '| tool | objects | wall s | objects/s | MB/s | CPU s | peak RSS MB | time vs rclone |',
    '|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.tool} | ${r.objects} | ${r.seconds.toFixed(2)} | ${(r.objects / r.seconds).toFixed(0)} | ${(r.bytes / 1e6 / r.seconds).toFixed(1)} | ${r.cpu.toFixed(2)} | ${r.peakMb.toFixed(0)} | ${base ? (r.seconds / base.seconds).toFixed(2) : '-'} |`,
    ),
  ].join('\n');
}

/**
 * `ferry serve` started in its own process on a random port, holding bucket "small" with `objects`
 * x 4 KB objects in 100 prefixes (d0/ to d99/); stop() ends it.
 */
export async function serveSmallObjects(objects: number): Promise<{ endpoint: string; stop: () => void }> {
  const port = 4800 + Math.floor(Math.random() * 200);
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
  await putSmallObjects(client, objects);
  return { endpoint, stop: () => serve.kill('SIGTERM') };
}

/** `objects` x 4 KB objects put into bucket "small" in 100 prefixes (d0/ to d99/), 32 at once. */
export async function putSmallObjects(client: S3Client, objects: number): Promise<void> {
  let next = 0;
  const body = Buffer.alloc(4096, 7);
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < objects) {
        const i = next++;
        await client.send(new PutObjectCommand({ Bucket: 'small', Key: `d${i % 100}/f${i}`, Body: body }));
      }
    }),
  );
}
