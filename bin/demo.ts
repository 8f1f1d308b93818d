#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// `npm start`: ferry's main job on the embedded default. Starts the embedded S3 endpoint, fills a
// source bucket with a generated data set, runs `ferry copy` to a second bucket through the local
// engine (a real child process, as a user would run it), then checks every object of the copy.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { datasetSpecs, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';

const count = Number(process.env.FERRY_DEMO_OBJECTS ?? 10_000);
const server = await startEmbedded();
const env = {
  ...process.env,
  AWS_ENDPOINT_URL: server.endpoint,
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
};
const client = embeddedClient(server.endpoint);
try {
  for (const Bucket of ['ferry-demo-source', 'ferry-demo-dest']) await client.send(new CreateBucketCommand({ Bucket }));
  const specs = datasetSpecs(count);
  const total = specs.reduce((n, s) => n + s.size, 0);
  process.stderr.write(`demo: embedded S3 at ${server.endpoint}; writing ${specs.length} objects (${(total / 1e6).toFixed(1)} MB)\n`);
  await uploadDataset(client, 'ferry-demo-source', specs);

  const args = ['copy', 's3://ferry-demo-source', 's3://ferry-demo-dest/copy', '--multipart-threshold', '16MiB', '--part-size', '8MiB'];
  process.stderr.write(`demo: ferry ${args.join(' ')}\n`);
  const ferry = fileURLToPath(new URL('ferry.ts', import.meta.url));
  const jobDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-jobs-'));
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ferry, ...args, '--job-dir', jobDir], {
      env,
      stdio: 'inherit',
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`ferry copy exited with ${code}`);

  process.stderr.write('demo: checking every object of the copy against what was generated\n');
  const check = await verifyAgainstSpecs(client, 'ferry-demo-dest', 'copy/', specs);
  for (const m of check.mismatches.slice(0, 20)) process.stderr.write(`demo: MISMATCH ${JSON.stringify(m.key)}: ${m.problem}\n`);
  if (check.mismatches.length) throw new Error(`${check.mismatches.length} objects differ`);
  process.stderr.write(`demo: verified ${check.objects} objects, ${check.bytes} bytes: every key, byte and header matches\n`);
  const [jobId] = await readdir(jobDir);
  process.stdout.write(await readFile(path.join(jobDir, jobId as string, 'report.json'), 'utf8'));
} catch (err) {
  process.stderr.write(`demo: FAILED: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await server.stop();
}
