// ferry copy DIR s3://B/P: a tree pushed from one process, every byte and header checked, and
// what cannot be pushed reported.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { bodyOf } from '../lib/local/dataset.ts';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { listAll, localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

const FILES: { key: string; size: number; type: string }[] = [
  { key: 'a.txt', size: 12, type: 'text/plain' },
  { key: 'empty.bin', size: 0, type: 'application/octet-stream' },
  { key: 'dir/sub/deep/photo.JPG', size: 5000, type: 'image/jpeg' },
  { key: 'dir/ünïcødé 日本.json', size: 300, type: 'application/json' },
  { key: 'dir/plus+and&q?h#%25.csv', size: 40, type: 'text/csv' },
  { key: 'dir/with space/x', size: 1, type: 'application/octet-stream' },
  { key: 'big/large.parquet', size: 11 * MiB + 3, type: 'application/vnd.apache.parquet' },
  ...Array.from({ length: 250 }, (_, i) => ({ key: `many/${String(i).padStart(4, '0')}.dat`, size: (i * 37) % 3000, type: 'application/octet-stream' })),
];

describe('ferry copy DIR s3://B/P (push in one process)', () => {
  let server: EmbeddedServer;
  let client: S3Client;
  let tree: string;
  let env: NodeJS.ProcessEnv;
  const mtime = new Date('2024-03-01T12:34:56.789Z');

  before(async () => {
    ({ server, client } = await serverWithBuckets('push-dst', 'push-odd', 'push-filter'));
    tree = path.join(await tempDir(), 'tree');
    for (const f of FILES) {
      const file = path.join(tree, f.key);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bodyOf(f), { mode: 0o640 });
      await utimes(file, mtime, mtime);
    }
    env = localEnv({ AWS_ENDPOINT_URL: server.endpoint });
  });
  after(() => server?.stop());

  it('uploads every file with its bytes, content type, mtime and mode', async () => {
    const jobDir = await tempDir();
    const run = await runFerry(['copy', tree, 's3://push-dst/up', '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json', '--job-dir', jobDir], { env });
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    const bytes = FILES.reduce((n, f) => n + f.size, 0);
    assert.deepEqual(out.objects, { total: FILES.length, copied: FILES.length, skipped: 0, failed: 0 });
    assert.deepEqual(out.bytes, { total: bytes, copied: bytes });
    // ferry status reads the same from the local job store.
    const status = await runFerry(['status', out.jobId, '--job-dir', jobDir, '--json'], { env });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.phase, 'finished');
    assert.deepEqual(s.objects, out.objects);
    assert.deepEqual(s.bytes, out.bytes);
    const human = await runFerry(['status', out.jobId, '--job-dir', jobDir], { env });
    assert.match(human.stdout, new RegExp(`^job ${out.jobId} \\(push\\): finished\nobjects: ${FILES.length} of ${FILES.length} \\(${FILES.length} copied, 0 skipped, 0 failed\\)\n`));
    const missing = await runFerry(['status', 'no-such-job', '--job-dir', jobDir], { env });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^ferry: no job no-such-job in /);
    assert.deepEqual(await listAll(client, 'push-dst', 'up/'), FILES.map((f) => f.key).sort());
    for (const f of FILES) {
      const got = await client.send(new GetObjectCommand({ Bucket: 'push-dst', Key: `up/${f.key}` }));
      const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      assert.ok(body.equals(bodyOf(f)), f.key);
      assert.equal(got.ContentType, f.type, f.key);
      assert.deepEqual(got.Metadata, { mtime: (mtime.getTime() / 1000).toFixed(3), mode: '640' }, f.key);
    }
  });

  it('pushed again, skips what is unchanged at the destination and sends what changed', async () => {
    const dir = path.join(await tempDir(), 'again');
    const files = FILES.filter((f) => f.size < MiB);
    for (const f of files) {
      await mkdir(path.dirname(path.join(dir, f.key)), { recursive: true });
      await writeFile(path.join(dir, f.key), bodyOf(f));
    }
    const args = ['copy', dir, 's3://push-dst/again', '--json', '--manifest-max-entries', '40'];
    const first = await runFerry([...args, '--job-dir', await tempDir()], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).objects.copied, files.length);
    // One file changes after its upload (a later mtime, the same size), one keeps its mtime but grows.
    await new Promise((r) => setTimeout(r, 1100)); // LastModified has whole seconds
    await writeFile(path.join(dir, 'a.txt'), 'changed text'); // 12 bytes, as before
    await writeFile(path.join(dir, 'many/0003.dat'), Buffer.alloc(5000, 7));
    const second = await runFerry([...args, '--job-dir', await tempDir()], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).objects, { total: files.length, copied: 2, skipped: files.length - 2, failed: 0 });
    const got = await client.send(new GetObjectCommand({ Bucket: 'push-dst', Key: 'again/a.txt' }));
    assert.equal(await (got.Body as { transformToString(): Promise<string> }).transformToString(), 'changed text');
    const grown = await client.send(new GetObjectCommand({ Bucket: 'push-dst', Key: 'again/many/0003.dat' }));
    assert.equal(grown.ContentLength, 5000);
  });

  it('ferry sync DIR s3://: --dry-run and plan say what would change, --delete removes what the tree lost (not what it skipped)', async () => {
    const dir = path.join(await tempDir(), 'synced');
    const files = FILES.filter((f) => f.size < MiB && f.key.startsWith('many/')).slice(0, 60);
    for (const f of files) {
      await mkdir(path.dirname(path.join(dir, f.key)), { recursive: true });
      await writeFile(path.join(dir, f.key), bodyOf(f));
    }
    await symlink('many/0000.dat', path.join(dir, 'link')); // skipped by the walk: its object is kept
    const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: 'push-dst', Key: `synced/${key}`, Body: body }));
    await put('link', 'an object where the tree has a symlink');
    await put('stale/1', 'only at the destination');
    await put('keep.log', 'excluded: never deleted');
    await new Promise((r) => setTimeout(r, 1100)); // LastModified has whole seconds
    const sync = (...extra: string[]) => runFerry(['sync', dir, 's3://push-dst/synced', '--exclude', '*.log', '--job-dir', jobDir, ...extra], { env });
    const jobDir = await tempDir();

    const first = await sync('--json');
    assert.equal(first.code, 0, first.stderr);
    const r1 = JSON.parse(first.stdout);
    assert.deepEqual(r1.objects, { total: files.length + 1, copied: files.length, skipped: 1, failed: 0 });
    assert.equal(r1.deletes, undefined);
    assert.equal(JSON.parse(await readFile(r1.reportPath, 'utf8')).destinationOnly, 1, 'stale/1; not link (skipped), not keep.log (excluded)');
    await new Promise((r) => setTimeout(r, 1100));

    await writeFile(path.join(dir, files[0]!.key), 'grown beyond its old size');
    await rm(path.join(dir, files[1]!.key));
    await writeFile(path.join(dir, 'many/new.dat'), 'new');
    const planned = await runFerry(['plan', dir, 's3://push-dst/synced', '--exclude', '*.log', '--delete', '--job-dir', jobDir], { env });
    assert.equal(planned.code, 0, planned.stderr);
    assert.match(planned.stdout, /^copy: +2 objects, 28 B \(1 not at the destination, 1 sizes differ\)$/m);
    assert.match(planned.stdout, new RegExp(`^unchanged: ${files.length - 2} objects$`, 'm'));
    assert.match(planned.stdout, /^only at the destination: 2 objects; to delete \(--delete\)$/m);
    const dry = await sync('--delete', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, `copy ${files[0]!.key} (sizes differ)\ncopy many/new.dat (not at the destination)\ndelete ${files[1]!.key}\ndelete stale/1\n`);

    const third = await sync('--delete', '--json');
    assert.equal(third.code, 0, third.stderr);
    const r3 = JSON.parse(third.stdout);
    assert.deepEqual(r3.objects, { total: files.length + 1, copied: 2, skipped: files.length - 1, failed: 0 });
    assert.deepEqual(r3.deletes, { planned: 2, deleted: 2, failed: 0 });
    const expected = [...files.slice(2).map((f) => f.key), files[0]!.key, 'many/new.dat', 'link', 'keep.log'].sort();
    assert.deepEqual(await listAll(client, 'push-dst', 'synced/'), expected);
    const grown = await client.send(new GetObjectCommand({ Bucket: 'push-dst', Key: `synced/${files[0]!.key}` }));
    assert.equal(await (grown.Body as { transformToString(): Promise<string> }).transformToString(), 'grown beyond its old size');
  });

  it('skips symlinks and fifos (counted), reports names S3 cannot hold, pushes the rest', async () => {
    const odd = path.join(await tempDir(), 'odd');
    await mkdir(path.join(odd, 'd'), { recursive: true });
    await writeFile(path.join(odd, 'd', 'ok.txt'), 'fine');
    await symlink(path.join(odd, 'd', 'ok.txt'), path.join(odd, 'link.txt'));
    await symlink(odd, path.join(odd, 'd', 'loop'));
    execFileSync('mkfifo', [path.join(odd, 'pipe')]);
    await writeFile(Buffer.from(path.join(odd, 'bad-\xff-name.txt'), 'latin1'), 'x'); // not valid UTF-8
    const longDir = path.join(odd, 'x'.repeat(250), 'y'.repeat(250), 'z'.repeat(250), 'w'.repeat(250), 'v'.repeat(250));
    await mkdir(longDir, { recursive: true });
    await writeFile(path.join(longDir, 'too-long.txt'), 'x');

    const jobDir = await tempDir();
    const run = await runFerry(['copy', odd, 's3://push-odd', '--json', '--job-dir', jobDir], { env });
    assert.equal(run.code, 1, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.objects, { total: 6, copied: 1, skipped: 3, failed: 2 });
    assert.deepEqual(await listAll(client, 'push-odd', ''), ['d/ok.txt']);
    const report = JSON.parse(await readFile(out.reportPath, 'utf8'));
    assert.deepEqual(report.failuresByCode, { InvalidName: 1, KeyTooLong: 1 });
    const scan = JSON.parse(await readFile(path.join(path.dirname(out.reportPath), 'scan.json'), 'utf8'));
    assert.deepEqual(scan.skipped.map((s: { reason: string }) => s.reason).sort(), ['special', 'symlink', 'symlink']);

    // --follow-symlinks follows links and still refuses to walk a loop.
    const followed = await runFerry(['copy', odd, 's3://push-odd/f', '--follow-symlinks', '--json', '--job-dir', jobDir], { env });
    assert.equal(followed.code, 1, followed.stderr);
    assert.deepEqual(await listAll(client, 'push-odd', 'f/'), ['d/ok.txt', 'link.txt']);
    const followedScan = JSON.parse(await readFile(path.join(path.dirname(JSON.parse(followed.stdout).reportPath), 'scan.json'), 'utf8'));
    assert.deepEqual(followedScan.skipped.map((s: { reason: string }) => s.reason).sort(), ['loop', 'special']);
  });

  it('applies include/exclude, and --dry-run uploads nothing', async () => {
    const run = await runFerry(['copy', tree, 's3://push-filter', '--include', 'dir/**', '--exclude', '**/*.csv', '--json', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await listAll(client, 'push-filter', ''), FILES.filter((f) => f.key.startsWith('dir/') && !f.key.endsWith('.csv')).map((f) => f.key).sort());
    const dry = await runFerry(['copy', tree, 's3://push-filter/dry', '--dry-run', '--json', '--job-dir', await tempDir()], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).status, 'dry-run');
    assert.deepEqual(await listAll(client, 'push-filter', 'dry/'), []);
  });

  it('at its defaults, sends a 20 MiB file in parts (the embedded endpoint takes at most 11 MiB a request)', async () => {
    const dir = path.join(await tempDir(), 'one');
    await mkdir(dir);
    const spec = { key: 'twenty.bin', size: 20 * MiB + 1 };
    await writeFile(path.join(dir, spec.key), bodyOf(spec));
    const run = await runFerry(['copy', dir, 's3://push-dst/defaults', '--json', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 0, run.stderr);
    const got = await client.send(new GetObjectCommand({ Bucket: 'push-dst', Key: 'defaults/twenty.bin' }));
    const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    assert.ok(body.equals(bodyOf(spec)));
  });

  it('refuses a source that is not a directory', async () => {
    const file = path.join(tree, 'a.txt');
    assert.ok((await stat(file)).isFile());
    const run = await runFerry(['copy', file, 's3://push-dst', '--job-dir', await tempDir()], { env });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /not a directory/);
  });
});
