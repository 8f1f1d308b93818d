// ferry copy s3://B/P DIR: objects pulled into a directory, every byte checked, mtimes restored,
// and keys that cannot be files refused.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LeanS3 } from '../lib/core/lean-s3.ts';
import { unsafeKey } from '../lib/core/pull.ts';
import { DownloadWorkers } from '../lib/core/pull-workers.ts';
import { bodyOf, datasetSpecs, type ObjectSpec, uploadDataset } from '../lib/local/dataset.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { localEnv, runFerry, serverWithBuckets, startFerry, tempDir } from './helpers.ts';
import { oncePerRequest, startFaultProxy } from './proxy.ts';

const MiB = 1024 * 1024;

async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(full, base)));
    else out.push(path.relative(base, full));
  }
  return out.sort();
}

describe('ferry copy s3://B/P DIR (pull)', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let specs: ObjectSpec[];
  let env: NodeJS.ProcessEnv;
  before(async () => {
    ({ server, client } = await serverWithBuckets('pull-src', 'pull-odd', 'round-trip'));
    specs = datasetSpecs(150, [9 * MiB + 1]);
    await uploadDataset(client, 'pull-src', specs, 'from/');
    env = localEnv({ AWS_ENDPOINT_URL: server.endpoint });
  });
  after(() => server?.stop());

  it('writes every object as a file, byte for byte; folder markers become directories; // keys are refused', async () => {
    const dir = path.join(await tempDir(), 'out');
    const run = await runFerry(['copy', 's3://pull-src/from', dir, '--json', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 1, run.stderr);
    const out = JSON.parse(run.stdout);
    const files = specs.filter((s) => !s.key.endsWith('/') && !s.key.includes('//'));
    assert.deepEqual(out.objects, { total: specs.length, copied: files.length, skipped: 1, failed: 1 });
    assert.deepEqual(await filesUnder(dir), files.map((s) => s.key).sort());
    for (const s of files) assert.ok((await readFile(path.join(dir, s.key))).equals(bodyOf(s)), s.key);
    assert.ok((await stat(path.join(dir, 'tricky/folder'))).isDirectory());
    const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
    assert.deepEqual(report.failuresByCode, { UnsafeKey: 1 });
  });

  it('ferry sync s3:// DIR: what is unchanged stays, a changed object is fetched again, --delete removes local extras', async () => {
    const dir = path.join(await tempDir(), 'synced');
    const jobDir = await tempDir();
    const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: 'pull-odd', Key: `sync/${key}`, Body: body }));
    for (let i = 0; i < 40; i++) await put(`d${i % 4}/f${i}`, `body ${i}`);
    await new Promise((r) => setTimeout(r, 1100)); // the files are written in a later second than the objects
    const sync = (...extra: string[]) => runFerry(['sync', 's3://pull-odd/sync', dir, '--job-dir', jobDir, ...extra], { env });

    const first = await sync('--json');
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout).objects, { total: 40, copied: 40, skipped: 0, failed: 0 });
    const again = await sync('--json');
    assert.deepEqual(JSON.parse(again.stdout).objects, { total: 40, copied: 0, skipped: 40, failed: 0 }, 'files written after their objects are current');
    await new Promise((r) => setTimeout(r, 1100));

    await put('d1/f1', 'BODY 1'); // same size, rewritten after the file was written
    await put('d2/new', 'new');
    await writeFile(path.join(dir, 'd3/local-only'), 'made here');
    await writeFile(path.join(dir, 'd0/f0'), 'edited here'); // a local edit: newer than its object, other size
    await new Promise((r) => setTimeout(r, 1100));
    const dry = await sync('--delete', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, 'copy d0/f0 (sizes differ)\ncopy d1/f1 (changed since the destination was written)\ncopy d2/new (not at the destination)\ndelete d3/local-only\n');
    assert.equal(await readFile(path.join(dir, 'd1/f1'), 'utf8'), 'body 1', 'the dry run changed nothing');

    const third = await sync('--delete', '--json');
    assert.equal(third.code, 0, third.stderr);
    const r = JSON.parse(third.stdout);
    assert.deepEqual(r.objects, { total: 41, copied: 3, skipped: 38, failed: 0 });
    assert.deepEqual(r.deletes, { planned: 1, deleted: 1, failed: 0 });
    const expected = [...Array.from({ length: 40 }, (_, i) => `d${i % 4}/f${i}`), 'd2/new'].sort();
    assert.deepEqual(await filesUnder(dir), expected);
    assert.equal(await readFile(path.join(dir, 'd1/f1'), 'utf8'), 'BODY 1');
    assert.equal(await readFile(path.join(dir, 'd0/f0'), 'utf8'), 'body 0');

    // verify against the directory: sizes alone, or every byte with --deep.
    const verify = (...extra: string[]) => runFerry(['verify', 's3://pull-odd/sync', dir, '--job-dir', jobDir, '--json', ...extra], { env });
    assert.deepEqual(JSON.parse((await verify()).stdout).objects, { source: 41, destination: 41, matched: 0, sizeOnly: 41, missing: 0, extra: 0, differ: 0 });
    assert.deepEqual(JSON.parse((await verify('--deep')).stdout).objects, { source: 41, destination: 41, matched: 41, sizeOnly: 0, missing: 0, extra: 0, differ: 0 });
    await writeFile(path.join(dir, 'd2/f2'), 'BODY 2'); // same size, other bytes
    const deep = await runFerry(['verify', 's3://pull-odd/sync', dir, '--job-dir', jobDir, '--deep'], { env });
    assert.equal(deep.code, 1);
    assert.match(deep.stdout, /^checksum d2\/f2: MD5 of the bytes [0-9a-f]{32} in the source, [0-9a-f]{32} at the destination\n$/);
  });

  it('refuses keys that would leave the directory or collide, and writes the rest', async () => {
    for (const Key of ['../escape.txt', 'ok/../../up.txt', 'a', 'a/b', 'fine/x.txt']) {
      await client.send(new PutObjectCommand({ Bucket: 'pull-odd', Key, Body: Key }));
    }
    const top = await tempDir();
    const dir = path.join(top, 'inside');
    const run = await runFerry(['copy', 's3://pull-odd', dir, '--json', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(await readFile(JSON.parse(run.stdout).reportPath, 'utf8'));
    assert.deepEqual(report.failuresByCode, { UnsafeKey: 2, PathCollision: 1 });
    assert.deepEqual(await readdir(top), ['inside'], 'nothing written outside the directory');
    assert.equal(await readFile(path.join(dir, 'fine/x.txt'), 'utf8'), 'fine/x.txt');
    const files = await filesUnder(dir);
    assert.ok(files.includes('a') !== files.includes('a/b'), `exactly one of a and a/b: ${files}`);
    assert.ok(!files.some((f) => f.endsWith('.tmp')), 'no temporary file left behind');
  });

  it('round trip: push a tree, pull it back, same bytes and mtimes', async () => {
    const tree = path.join(await tempDir(), 'tree');
    const when = new Date('2023-06-07T08:09:10.500Z');
    const items = [{ key: 'x/one.txt', size: 10 }, { key: 'x/y/two.bin', size: 9 * MiB + 3 }, { key: 'três.json', size: 0 }];
    for (const f of items) {
      await mkdir(path.dirname(path.join(tree, f.key)), { recursive: true });
      await writeFile(path.join(tree, f.key), bodyOf(f));
      await utimes(path.join(tree, f.key), when, when);
    }
    const up = await runFerry(['copy', tree, 's3://round-trip/t', '--json', '--job-dir', await tempDir()], { env });
    assert.equal(up.code, 0, up.stderr);
    const back = path.join(await tempDir(), 'back');
    const down = await runFerry(['copy', 's3://round-trip/t', back, '--json', '--job-dir', await tempDir()], { env });
    assert.equal(down.code, 0, down.stderr);
    for (const f of items) {
      const file = path.join(back, f.key);
      assert.ok((await readFile(file)).equals(bodyOf(f)), f.key);
      assert.equal((await stat(file)).mtimeMs, when.getTime(), f.key);
    }
  });

  it('through bodies cut in the middle, resets and 503s: every file whole, each fault one retry, no temporary file', async () => {
    const proxy = await startFaultProxy(
      server.endpoint,
      oncePerRequest((req, n) =>
        // The large object's first GET is always cut: its body is streamed to disk, not held whole.
        req.bucketLevel ? 'pass' : req.method === 'GET' && (req.url.includes('large/') || n % 5 === 2) ? 'cut-body' : n % 13 === 4 ? 'reset' : n % 11 === 7 ? 'slowdown' : 'pass',
      ),
    );
    try {
      const dir = path.join(await tempDir(), 'flaky');
      const run = await runFerry(['copy', 's3://pull-src/from', dir, '--json', '--job-dir', await tempDir()], {
        env: localEnv({ AWS_ENDPOINT_URL: proxy.endpoint }),
      });
      assert.equal(run.code, 1, run.stderr); // the `//` key is refused, as without faults
      const out = JSON.parse(run.stdout);
      const files = specs.filter((s) => !s.key.endsWith('/') && !s.key.includes('//'));
      assert.deepEqual(out.objects, { total: specs.length, copied: files.length, skipped: 1, failed: 1 });
      assert.deepEqual(await filesUnder(dir), files.map((s) => s.key).sort());
      for (const s of files) assert.ok((await readFile(path.join(dir, s.key))).equals(bodyOf(s)), s.key);
      const { reset, slowdown } = proxy.injected;
      const cut = proxy.injected['cut-body'];
      assert.ok(cut > 10 && reset > 3 && slowdown > 3, JSON.stringify(proxy.injected));
      const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
      assert.equal(report.retries, cut + reset + slowdown, 'every injected fault cost exactly one retry');
    } finally {
      await proxy.stop();
    }
  });

  it('a body that arrives whole but wrong fails its MD5 check, a refused one its code: reported, no file written', async () => {
    const small = { key: 'small.txt', size: 3000 };
    const streamed = { key: 'streamed.bin', size: 2 * MiB + 7 }; // over 1 MiB: streamed, single-part ETag
    const denied = { key: 'denied.bin', size: 2 * MiB }; // streamed: the error's body must not reach the file
    const fine = { key: 'fine.txt', size: 100 };
    for (const o of [small, streamed, denied, fine]) await client.send(new PutObjectCommand({ Bucket: 'round-trip', Key: `corrupt/${o.key}`, Body: bodyOf(o) }));
    const proxy = await startFaultProxy(server.endpoint, (req) =>
      req.method !== 'GET' || req.bucketLevel || req.url.includes('fine.txt') ? 'pass' : req.url.includes('denied.bin') ? 'deny' : 'corrupt',
    );
    try {
      const dir = path.join(await tempDir(), 'corrupt');
      const run = await runFerry(['copy', 's3://round-trip/corrupt', dir, '--json', '--job-dir', await tempDir()], {
        env: localEnv({ AWS_ENDPOINT_URL: proxy.endpoint }),
      });
      assert.equal(run.code, 1, run.stderr);
      const out = JSON.parse(run.stdout);
      assert.deepEqual(out.objects, { total: 4, copied: 1, skipped: 0, failed: 3 });
      assert.deepEqual(JSON.parse(await readFile(out.reportPath, 'utf8')).failuresByCode, { AccessDenied: 1, ChecksumMismatch: 2 });
      assert.deepEqual(await filesUnder(dir), ['fine.txt']);
      assert.equal(proxy.injected.corrupt, 2);
      assert.equal(proxy.injected.deny, 1);
    } finally {
      await proxy.stop();
    }
  });

  it("download workers sign with the main thread's credentials, and get fresh ones from it before they expire", async () => {
    const tokens: string[] = []; // the session token of each object GET
    const proxy = await startFaultProxy(server.endpoint, ({ bucketLevel, headers }) => {
      if (!bucketLevel) tokens.push(String(headers['x-amz-security-token']));
      return 'pass';
    });
    try {
      // Credentials that always expire within the minute (the SDK asks its provider again each time):
      // the worker is started with one, then must ask the main thread for new ones.
      let issued = 0;
      const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local', sessionToken: `t${++issued}`, expiration: new Date(Date.now() + 30_000) });
      const source = new S3Client({ endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
      const workers = new DownloadWorkers((await LeanS3.for(source))!, 1);
      workers.start();
      for (let waited = 0; !workers.ready; waited += 20) {
        assert.ok(waited < 20_000, 'the download worker never became ready');
        await new Promise((r) => setTimeout(r, 20));
      }
      const startedWith = issued; // the last issued before the worker started: what it was given
      const small = specs.filter((o) => !o.key.endsWith('/') && unsafeKey(o.key) === undefined && o.size <= MiB).slice(0, 20);
      const dir = await tempDir();
      for (const o of small) await mkdir(path.dirname(path.join(dir, o.key)), { recursive: true });
      await Promise.all(
        small.map((o) => workers.download({ bucket: 'pull-src', key: `from/${o.key}`, entry: { key: o.key, size: o.size }, file: path.join(dir, o.key), direct: true })),
      );
      for (const o of small) assert.deepEqual(await readFile(path.join(dir, o.key)), bodyOf(o), o.key);
      assert.equal(tokens.length, small.length);
      const fresh = (t: string) => /^t\d+$/.test(t) && Number(t.slice(1)) > startedWith && Number(t.slice(1)) <= issued;
      assert.ok(tokens.every(fresh), `GETs not signed with credentials issued after the worker started (t${startedWith}): ${tokens}`);
    } finally {
      await proxy.stop();
    }
  });

  it('Ctrl-C stops cleanly: no temporary file, every written file whole, the rest reported; run again to finish', async () => {
    const many: ObjectSpec[] = Array.from({ length: 2000 }, (_, i) => ({
      key: `n/${String(i).padStart(5, '0')}.bin`,
      size: 2000 + i,
      contentType: 'application/octet-stream',
      metadata: {},
    }));
    await uploadDataset(client, 'round-trip', many, 'many/');
    const dir = path.join(await tempDir(), 'stopped');
    const args = ['copy', 's3://round-trip/many', dir, '--concurrency', '1', '--json', '--job-dir', await tempDir()];
    const running = startFerry(args, { env });
    while ((await readdir(path.join(dir, 'n')).catch(() => [])).length < 20) await new Promise((r) => setTimeout(r, 10));
    running.child.kill('SIGINT');
    const stopped = await running.done;
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /ferry: interrupted; run the same command again to finish\n$/);
    const out = JSON.parse(stopped.stdout);
    const written = await filesUnder(dir);
    assert.ok(!written.some((f) => f.endsWith('.tmp')), 'no temporary file left behind');
    assert.ok(written.length > 0 && written.length < many.length, `${written.length} written before the stop`);
    assert.equal(out.objects.copied, written.length);
    for (const f of written) assert.ok((await readFile(path.join(dir, f))).equals(bodyOf(many.find((m) => m.key === f) as ObjectSpec)), f);
    const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
    assert.equal(report.failuresByCode.NotCopied, out.objects.failed); // what was listed and not written
    const again = await runFerry(args, { env });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await filesUnder(dir), many.map((m) => m.key));
  });
});
