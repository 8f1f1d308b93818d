// A one-node Ceph cluster with radosgw, started for a test file and stopped after it
// (test/ceph/ceph.sh does the work; test/install.sh installs it, as `npm test` does first).
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { tempDir } from './helpers.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./ceph/ceph.sh', import.meta.url));

export const RGW_CREDENTIALS = { accessKeyId: 'ferry', secretAccessKey: 'ferrysecret' };

export interface Radosgw {
  readonly endpoint: string;
  /** The cluster's ceph.conf, for its command-line tools (radosgw-admin -c). */
  readonly conf: string;
  /** Where the cluster's CephFS is mounted (ceph-fuse), when asked for. */
  readonly cephfs?: string;
  readonly client: S3Client;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

export async function startRadosgw(options: { cephfs?: boolean } = {}): Promise<Radosgw> {
  const dir = await tempDir();
  const port = await freePort();
  const monPort = await freePort();
  const cephfs = options.cephfs ? `${dir}/cephfs` : undefined;
  const start = run('bash', [SCRIPT, 'start', dir, String(port), ...(cephfs ? [cephfs] : [])], {
    timeout: 120_000,
    env: { ...process.env, MON_PORT: String(monPort) },
  });
  // A start that fails half-way leaves daemons running: end them before reporting the failure.
  const { stdout } = await start.catch(async (err) => {
    await run('bash', [SCRIPT, 'stop', dir]).catch(() => {});
    throw err;
  });
  const endpoint = stdout.trim().split('\n').pop() as string;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...RGW_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    conf: `${dir}/ceph.conf`,
    cephfs,
    client,
    stop: async () => {
      await run('bash', [SCRIPT, 'stop', dir]);
    },
  };
}
