// Shared by the tests: the embedded endpoint on a random loopback port, clients for it, and the
// real CLI run as a child process (the way users run it).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { bodyOf } from '../lib/local/dataset.ts';
import { type EmbeddedServer, embeddedClient, startEmbedded } from '../lib/local/server.ts';

export const FERRY = fileURLToPath(new URL('../bin/ferry.ts', import.meta.url));

export async function serverWithBuckets(...buckets: string[]): Promise<{ server: EmbeddedServer; client: S3Client }> {
  const server = await startEmbedded();
  const client = embeddedClient(server.endpoint);
  try {
    for (const Bucket of buckets) await client.send(new CreateBucketCommand({ Bucket }));
  } catch (err) {
    await server.stop(); // a server left listening would keep the test file from ever ending
    throw err;
  }
  return { server, client };
}

const tempDirs: string[] = [];

// A test file's temporary directories go when its process ends (runs of the suite had left thousands).
// A directory that cannot go (a mount a failed test left) stays.
process.once('exit', () => {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  }
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-test-'));
  tempDirs.push(dir);
  return dir;
}

/** An environment with local credentials and nothing that could reach a real AWS endpoint. */
export function localEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/ferry-test-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/ferry-test-credentials',
  });
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface FerryRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runFerry(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<FerryRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, ...args], {
      env: options.env ?? localEnv(),
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A ferry process left running: its output so far, a wait for a line of stderr, and its end. */
export interface RunningFerry {
  readonly child: ReturnType<typeof spawn>;
  readonly output: { stdout: string; stderr: string };
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly done: Promise<FerryRun>;
}

export function startFerry(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): RunningFerry {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, ...args], {
    env: options.env ?? localEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d) => (output.stdout += d));
  child.stderr?.on('data', (d) => (output.stderr += d));
  const done = new Promise<FerryRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? -1 : 0), ...output }));
  });
  return {
    child,
    output,
    done,
    async waitForStderr(pattern, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (!pattern.test(output.stderr)) {
        if (Date.now() > until) throw new Error(`no ${pattern} on stderr within ${timeoutMs} ms:\n${output.stderr}`);
        if (child.exitCode !== null) throw new Error(`ferry exited (${child.exitCode}) before ${pattern}:\n${output.stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

export async function listAll(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push((o.Key as string).slice(prefix.length));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

export async function writeTree(root: string, files: readonly { key: string; size: number }[], mtime: Date): Promise<void> {
  for (const f of files) {
    const file = path.join(root, f.key);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bodyOf(f));
    await utimes(file, mtime, mtime);
  }
}

export async function assertPushed(client: S3Client, bucket: string, prefix: string, files: readonly { key: string; size: number }[]): Promise<void> {
  assert.deepEqual(await listAll(client, bucket, prefix), files.map((f) => f.key).sort());
  for (const f of files) {
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + f.key }));
    const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    assert.ok(body.equals(bodyOf(f)), f.key);
  }
}

