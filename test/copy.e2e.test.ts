// ferry copy end to end: the real CLI, the local engine, the embedded S3 endpoint over sockets.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { datasetSpecs, type ObjectSpec, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import { localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

describe('ferry copy s3 -> s3 (same endpoint: server-side copy)', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let specs: ObjectSpec[];
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ server, client } = await serverWithBuckets('src-bucket', 'dst-bucket', 'dst-budget', 'dst-filter', 'dst-dry'));
    // Objects above the lowered threshold (6 MiB) are copied in 5 MiB parts, one of them ragged.
    specs = datasetSpecs(400, [6 * MiB + 1, 11 * MiB + 7]);
    await uploadDataset(client, 'src-bucket', specs, 'in/');
    env = localEnv({ AWS_ENDPOINT_URL: server.endpoint });
  });
  after(() => server.stop());

  it('copies every object byte for byte with its metadata, and reports it', async () => {
    const jobDir = await tempDir();
    const run = await runFerry(
      ['copy', 's3://src-bucket/in', 's3://dst-bucket/out/', '--multipart-threshold', '6MiB', '--part-size', '5MiB', '--json', '--job-dir', jobDir],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    const totalBytes = specs.reduce((n, s) => n + s.size, 0);
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
    assert.deepEqual(out.bytes, { total: totalBytes, copied: totalBytes });
    assert.equal(run.stderr, '', 'nothing but --json output');

    const check = await verifyAgainstSpecs(client, 'dst-bucket', 'out/', specs);
    assert.deepEqual(check.mismatches, []);

    const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
    assert.equal(report.objects.copied, specs.length);
    assert.equal(report.retries, 0);
    const csv = await readFile(path.join(path.dirname(out.reportPath), 'failures.csv'), 'utf8');
    assert.equal(csv, 'key,size,error_code,message\n');

    // A rerun of the same copy is safe: same result, same bytes.
    const again = await runFerry(['copy', 's3://src-bucket/in', 's3://dst-bucket/out', '--json', '--job-dir', jobDir], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).objects.copied, specs.length);
    assert.deepEqual((await verifyAgainstSpecs(client, 'dst-bucket', 'out/', specs)).mismatches, []);
  });

  it('planner and copier continue across a tiny time budget without losing or doubling objects', async () => {
    const jobDir = await tempDir();
    const run = await runFerry(
      [
        'copy', 's3://src-bucket/in', 's3://dst-budget', '--multipart-threshold', '6MiB', '--part-size', '5MiB',
        '--manifest-max-entries', '37', '--invocation-ms', '1', '--json', '--job-dir', jobDir,
      ],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.objects.copied, specs.length);
    assert.deepEqual((await verifyAgainstSpecs(client, 'dst-budget', '', specs)).mismatches, []);
    const jobPath = path.dirname(out.reportPath);
    const manifests = (await readdir(path.join(jobPath, 'manifests'))).filter((n) => n.endsWith('.jsonl'));
    // Each planner call stops after one object and flushes what it has: more manifests than the
    // entry bound alone would make, none above it.
    assert.ok(manifests.length > Math.ceil(specs.length / 37), `planner continued: ${manifests.length} manifests`);
    const results = await readdir(path.join(jobPath, 'results'));
    assert.equal(results.length, manifests.length, 'one result object per manifest');
    // Manifest lines are sorted and hold each key once.
    const keys: string[] = [];
    const multi: string[] = [];
    for (const m of manifests.sort()) {
      const lines = (await readFile(path.join(jobPath, 'manifests', m), 'utf8')).trim().split('\n');
      assert.ok(lines.length <= 37, `${m} has ${lines.length} entries`);
      for (const line of lines) keys.push(JSON.parse(line).k);
      if (lines.length > 1) multi.push(m.replace('.jsonl', '.json'));
    }
    // With 1 ms per invocation a copier call takes one object: every manifest of several objects
    // needed more calls, and each left a checkpoint to continue from. (How many objects a planner
    // call takes within 1 ms depends on the machine, so there may be no such manifest:
    // test/copy-core.test.ts checks the copier's continuation deterministically.)
    assert.deepEqual((await readdir(path.join(jobPath, 'checkpoints')).catch(() => [])).sort(), multi.sort());
    assert.deepEqual(keys, [...specs.map((s) => s.key)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });

  it('applies include and exclude globs relative to the source prefix', async () => {
    const run = await runFerry(
      ['copy', 's3://src-bucket/in/', 's3://dst-filter/x', '--include', 'data/2017/**', '--include', 'tricky/**', '--exclude', '**/*.txt', '--json', '--job-dir', await tempDir()],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    const wanted = specs.filter((s) => (s.key.startsWith('data/2017/') || s.key.startsWith('tricky/')) && !s.key.endsWith('.txt'));
    assert.ok(wanted.length > 40 && wanted.some((s) => s.key === 'tricky/folder/'));
    assert.equal(JSON.parse(run.stdout).objects.copied, wanted.length);
    assert.deepEqual((await verifyAgainstSpecs(client, 'dst-filter', 'x/', wanted)).mismatches, []);
  });

  it('--dry-run plans and reports, and writes nothing to the destination', async () => {
    const run = await runFerry(['copy', 's3://src-bucket/in', 's3://dst-dry', '--dry-run', '--json', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.status, 'dry-run');
    assert.equal(out.objects.total, specs.length);
    assert.equal(out.objects.copied, 0);
    assert.deepEqual((await verifyAgainstSpecs(client, 'dst-dry', '', [])).mismatches, []);
  });

  it('shows progress and a summary on stderr without --json', async () => {
    const jobDir = await tempDir();
    const run = await runFerry(['copy', 's3://src-bucket/in/data/2018', 's3://dst-filter/summary', '--job-dir', jobDir], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '');
    const n = specs.filter((s) => s.key.startsWith('data/2018/')).length;
    assert.match(run.stderr, new RegExp(`${n}/${n} objects`));
    assert.match(run.stderr, new RegExp(`succeeded: ${n} of ${n} objects copied`));
    assert.match(run.stderr, /report: .*report\.json/);
    assert.ok((await stat(jobDir)).isDirectory());
  });
});

describe('ferry copy between two endpoints (streamed GET -> PUT)', () => {
  it('at its defaults, streams a 20 MiB object in parts', async () => {
    const a = await serverWithBuckets('default-from');
    const b = await serverWithBuckets('default-to');
    try {
      const specs = datasetSpecs(3, [20 * MiB + 1]);
      await uploadDataset(a.client, 'default-from', specs);
      const run = await runFerry(
        ['copy', 's3://default-from', 's3://default-to', '--source-endpoint-url', a.server.endpoint, '--dest-endpoint-url', b.server.endpoint, '--json', '--job-dir', await tempDir()],
        { env: localEnv() },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual((await verifyAgainstSpecs(b.client, 'default-to', '', specs)).mismatches, []);
    } finally {
      await a.server.stop();
      await b.server.stop();
    }
  });

  it('streams every object, multipart above the threshold, with metadata', async () => {
    const a = await serverWithBuckets('from-here');
    const b = await serverWithBuckets('to-there');
    try {
      const specs = datasetSpecs(120, [9 * MiB + 5]);
      await uploadDataset(a.client, 'from-here', specs);
      const run = await runFerry(
        [
          'copy', 's3://from-here', 's3://to-there/p', '--source-endpoint-url', a.server.endpoint, '--dest-endpoint-url', b.server.endpoint,
          '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir(),
        ],
        { env: localEnv() },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).objects.copied, specs.length);
      assert.deepEqual((await verifyAgainstSpecs(b.client, 'to-there', 'p/', specs)).mismatches, []);
    } finally {
      await a.server.stop();
      await b.server.stop();
    }
  });
});
