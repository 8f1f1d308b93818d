// Faults between ferry and the endpoint (a proxy injects them), and bad input: what users rely on
// is that nothing is lost, every retry is counted, and what fails is reported precisely.
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { datasetSpecs, type ObjectSpec, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { assertPushed, localEnv, runFerry, serverWithBuckets, tempDir, writeTree } from './helpers.ts';
import { oncePerRequest, startFaultProxy } from './proxy.ts';

const MiB = 1024 * 1024;

describe('transient faults are retried, counted, and lose nothing', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let specs: ObjectSpec[];
  before(async () => {
    ({ server, client } = await serverWithBuckets('flaky-src', 'flaky-dst', 'flaky-stream', 'denied-dst', 'stalled-dst'));
    specs = datasetSpecs(300, [7 * MiB]);
    await uploadDataset(client, 'flaky-src', specs);
  });
  after(() => server.stop());

  it('server-side copy through 503 SlowDown, 500 and connection resets', async () => {
    const proxy = await startFaultProxy(
      server.endpoint,
      oncePerRequest((_req, n) => (n < 0 ? 'pass' : n % 7 === 3 ? 'slowdown' : n % 11 === 5 ? 'reset' : n % 13 === 7 ? 'internal' : 'pass')),
    );
    try {
      const run = await runFerry(
        ['copy', 's3://flaky-src', 's3://flaky-dst', '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir()],
        { env: localEnv({ AWS_ENDPOINT_URL: proxy.endpoint }) },
      );
      const out = JSON.parse(run.stdout);
      const failures = out.reportPath ? await readFile(path.join(path.dirname(out.reportPath), 'failures.csv'), 'utf8') : '';
      assert.equal(run.code, 0, `${run.stderr}${failures}`);
      assert.equal(out.objects.copied, specs.length);
      assert.equal(out.objects.failed, 0);
      const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
      const { slowdown, reset, internal } = proxy.injected;
      assert.ok(slowdown > 10 && reset > 10 && internal > 10, JSON.stringify(proxy.injected));
      assert.equal(report.retries, slowdown + reset + internal, 'every injected fault cost exactly one retry');
      assert.equal(report.throttles, slowdown);
      assert.deepEqual((await verifyAgainstSpecs(client, 'flaky-dst', '', specs)).mismatches, []);
    } finally {
      await proxy.stop();
    }
  });

  it('streamed copy through bodies cut in the middle and resets', async () => {
    const proxy = await startFaultProxy(
      server.endpoint,
      oncePerRequest((req, n) => (n < 0 ? 'pass' : req.method === 'GET' && n % 5 === 2 ? 'cut-body' : n % 17 === 4 ? 'reset' : 'pass')),
    );
    try {
      const run = await runFerry(
        [
          'copy', 's3://flaky-src', 's3://flaky-stream', '--source-endpoint-url', proxy.endpoint, '--dest-endpoint-url', server.endpoint,
          '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir(),
        ],
        { env: localEnv() },
      );
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout);
      assert.equal(out.objects.copied, specs.length);
      assert.ok(proxy.injected['cut-body'] > 10, JSON.stringify(proxy.injected));
      const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
      assert.equal(report.retries, proxy.injected['cut-body'] + proxy.injected.reset);
      assert.deepEqual((await verifyAgainstSpecs(client, 'flaky-stream', '', specs)).mismatches, []);
    } finally {
      await proxy.stop();
    }
  });

  // A limit, so that a regression fails here instead of holding the suite forever.
  it('a request the service never answers is abandoned after the idle timeout and retried, on both request paths', { timeout: 60_000 }, async () => {
    // The first attempt of one small file's PUT (ferry's lean path) and of one part's UploadPart
    // (the SDK's) is read whole and never answered, as a stalled service would.
    const stalled = { put: false, part: false };
    const proxy = await startFaultProxy(
      server.endpoint,
      oncePerRequest((req) => {
        if (req.method !== 'PUT') return 'pass';
        const kind = req.url.includes('partNumber=') ? 'part' : req.url.includes('?') ? undefined : 'put';
        if (!kind || stalled[kind]) return 'pass';
        stalled[kind] = true;
        return 'stall';
      }),
    );
    try {
      const tree = await tempDir();
      const files = [
        { key: 'small/a.txt', size: 1000 },
        { key: 'small/b.txt', size: 2000 },
        { key: 'large.bin', size: 7 * MiB },
      ];
      await writeTree(tree, files, new Date('2026-01-02T03:04:05Z'));
      const run = await runFerry(['copy', tree, 's3://stalled-dst', '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', await tempDir()], {
        env: localEnv({ AWS_ENDPOINT_URL: proxy.endpoint, FERRY_IDLE_TIMEOUT_SECONDS: '2' }),
      });
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout);
      assert.equal(out.objects.copied, files.length);
      assert.deepEqual(proxy.injected.stall, 2);
      assert.deepEqual(stalled, { put: true, part: true });
      assert.equal(JSON.parse(await readFile(out.reportPath, 'utf8')).retries, 2, 'each stalled request cost one retry');
      await assertPushed(client, 'stalled-dst', '', files);
    } finally {
      await proxy.stop();
    }
  });

  it('reports permanent per-object errors in the report and failures.csv, exit code 1', async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) => (/part-00001\d\.bin/.test(req.url) ? 'deny' : 'pass'));
    try {
      const run = await runFerry(['copy', 's3://flaky-src', 's3://denied-dst', '--json', '--job-dir', await tempDir()], {
        env: localEnv({ AWS_ENDPOINT_URL: proxy.endpoint }),
      });
      assert.equal(run.code, 1, run.stderr);
      const out = JSON.parse(run.stdout);
      const denied = specs.filter((s) => /part-00001\d\.bin/.test(s.key));
      assert.equal(denied.length, 10);
      assert.equal(out.status, 'failed');
      assert.deepEqual(out.objects, { total: specs.length, copied: specs.length - 10, skipped: 0, failed: 10 });
      const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
      assert.deepEqual(report.failuresByCode, { AccessDenied: 10 });
      assert.equal(report.retries, 0, 'permanent errors are not retried');
      const csv = (await readFile(path.join(path.dirname(out.reportPath), 'failures.csv'), 'utf8')).trim().split('\n');
      assert.equal(csv[0], 'key,size,error_code,message');
      assert.deepEqual(
        csv.slice(1).map((l) => l.split(',').slice(0, 3).join(',')).sort(),
        denied.map((s) => `${s.key},${s.size},AccessDenied`).sort(),
      );
      const rest = specs.filter((s) => !denied.includes(s));
      const check = await verifyAgainstSpecs(client, 'denied-dst', '', rest);
      assert.deepEqual(check.mismatches, []);
    } finally {
      await proxy.stop();
    }
  });
});

describe('bad input: one clear line, the contract exit code, nothing written', () => {
  let server: EmbeddedServer;
  before(async () => {
    ({ server } = await serverWithBuckets('here-src', 'here-dst'));
  });
  after(() => server.stop());

  async function expectRefusal(args: string[], code: number, message: RegExp, env = localEnv({ AWS_ENDPOINT_URL: server.endpoint })) {
    const jobDir = path.join(await tempDir(), 'jobs');
    const run = await runFerry([...args, '--job-dir', jobDir], { env });
    assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0] as string, message);
    await assert.rejects(access(jobDir), 'no job store written');
  }

  it('malformed locations and options: exit 2', async () => {
    await expectRefusal(['copy', 's3:/here-src', 's3://here-dst'], 2, /^ferry: source s3:\/here-src: not a directory$/);
    await expectRefusal(['copy', 's3://x', 's3://here-dst'], 2, /^ferry: invalid bucket name "x"/);
    await expectRefusal(['copy', 'gs://here-src', 's3://here-dst'], 2, /^ferry: unsupported location/);
    await expectRefusal(['copy', 's3://here-src'], 2, /^ferry: copy needs a source and a destination/);
    await expectRefusal(['copy', 's3://here-src/a', 's3://here-src/a/b'], 2, /overlaps the source/);
    await expectRefusal(['copy', 's3://here-src', 's3://here-dst', '--concurrency', 'lots'], 2, /--concurrency: not a positive integer/);
    await expectRefusal(['copy', 's3://here-src', 's3://here-dst', '--bogus'], 2, /Unknown option '--bogus'/);
    await expectRefusal(['copy', 's3://here-src', 's3://here-dst', '--part-size', '1MiB'], 2, /--part-size: between 5MiB and 5GiB/);
    await expectRefusal(['frobnicate'], 2, /unknown command "frobnicate"/);
  });

  it('a missing bucket: exit 2', async () => {
    await expectRefusal(['copy', 's3://no-such-src', 's3://here-dst'], 2, /^ferry: source s3:\/\/no-such-src\/: bucket does not exist$/);
    await expectRefusal(['copy', 's3://here-src', 's3://no-such-dst/p'], 2, /^ferry: destination s3:\/\/no-such-dst\/p\/: bucket does not exist$/);
  });

  it('no credentials, an unknown profile, access denied, an unreachable endpoint: exit 3', async () => {
    const noCreds = localEnv({ AWS_ENDPOINT_URL: server.endpoint, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    await expectRefusal(['copy', 's3://here-src', 's3://here-dst'], 3, /^ferry: no AWS credentials for source/, noCreds);
    await expectRefusal(['copy', 's3://here-src', 's3://here-dst', '--profile', 'nobody'], 3, /^ferry: no AWS credentials for source/, noCreds);
    const proxy = await startFaultProxy(server.endpoint, () => 'deny');
    try {
      await expectRefusal(['copy', 's3://here-src', 's3://here-dst'], 3, /^ferry: source s3:\/\/here-src\/: access denied/, localEnv({ AWS_ENDPOINT_URL: proxy.endpoint }));
    } finally {
      await proxy.stop();
    }
    await expectRefusal(['copy', 's3://here-src', 's3://here-dst'], 3, /endpoint unreachable \(ECONNREFUSED\)/, localEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }));
  });

  it('honours AWS_PROFILE and --profile from the shared config files', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'credentials'), '[mover]\naws_access_key_id = local\naws_secret_access_key = local\n');
    await writeFile(path.join(dir, 'config'), '[profile mover]\nregion = eu-west-1\n');
    const env = localEnv({
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
      AWS_CONFIG_FILE: path.join(dir, 'config'),
    });
    for (const [args, extra] of [[['--profile', 'mover']], [[], { AWS_PROFILE: 'mover' }]] as const) {
      const run = await runFerry(['copy', 's3://here-src', 's3://here-dst', '--json', '--job-dir', dir, ...args], {
        env: { ...env, ...(extra ?? {}) },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).status, 'succeeded');
    }
  });
});
