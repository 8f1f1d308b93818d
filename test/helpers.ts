// Shared by the tests: the embedded endpoint on a random loopback port, clients for it, and the
// real CLI run as a child process (the way users run it).
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
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

export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'ferry-test-'));
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
