// Unit tests of the pure pieces: key order, locations, filters, part sizes, errors, CSV, the pool.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify } from '../lib/core/errors.ts';
import { defaultTransferOptions, MiB, partSizeFor, thresholdFor } from '../lib/core/job.ts';
import { compareKeys } from '../lib/core/keys.ts';
import { keyFilter } from '../lib/core/listing.ts';
import { overlaps, parseLocation } from '../lib/core/locations.ts';
import { Pool } from '../lib/core/pool.ts';
import { onLocalFileSystem } from '../lib/core/pull.ts';
import { csvField } from '../lib/core/report.ts';
import { copySource } from '../lib/core/transfer.ts';
import { parseSize } from '../lib/core/size.ts';

describe('compareKeys', () => {
  it('orders keys as S3 lists them: by UTF-8 bytes, not UTF-16 units', () => {
    const keys = ['b', 'a/b', 'a//b', 'ü', 'z', '😀', 'Ａ', '\uE000', 'a', 'a/', ''];
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual([...keys].sort(compareKeys), byBytes);
    assert.ok(compareKeys('Ａ', '😀') < 0, 'U+FF21 before U+1F600');
    assert.ok('Ａ' > '😀', 'while JavaScript puts it after');
    assert.equal(compareKeys('same', 'same'), 0);
  });
});

describe('parseLocation', () => {
  it('parses buckets and prefixes with directory semantics', () => {
    assert.deepEqual(parseLocation('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseLocation('s3://my-bucket/'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseLocation('s3://my-bucket/a/b'), { kind: 's3', bucket: 'my-bucket', prefix: 'a/b/' });
    assert.deepEqual(parseLocation('s3://my-bucket/a//'), { kind: 's3', bucket: 'my-bucket', prefix: 'a//' });
    assert.deepEqual(parseLocation('./data'), { kind: 'dir', path: './data' });
  });
  it('refuses malformed locations with a clear message', () => {
    for (const bad of ['s3://', 's3://ab', 's3://-bucket', 's3://bad..name', 's3://has space', 'gs://bucket/x', '']) {
      assert.throws(() => parseLocation(bad), { name: 'BadInputError' }, bad);
    }
  });
  it('knows when two locations overlap', () => {
    const loc = (t: string) => parseLocation(t) as Parameters<typeof overlaps>[0];
    assert.ok(overlaps(loc('s3://bkt/a'), loc('s3://bkt/a/b')));
    assert.ok(overlaps(loc('s3://bkt'), loc('s3://bkt/x')));
    assert.ok(!overlaps(loc('s3://bkt/a'), loc('s3://bkt/ab')));
    assert.ok(!overlaps(loc('s3://bkt/a'), loc('s3://other/a')));
  });
});

describe('keyFilter', () => {
  it('takes keys matching an include and no exclude', () => {
    const f = keyFilter(['logs/**', '*.csv'], ['**/*.tmp']);
    assert.ok(f('logs/2024/a.gz'));
    assert.ok(f('top.csv'));
    assert.ok(!f('dir/nested.csv'), '* stays within a segment');
    assert.ok(!f('logs/x.tmp'));
    assert.ok(!f('other/a'));
    assert.ok(keyFilter([], [])('anything/at/all'));
    assert.ok(keyFilter([], ['.hidden/**'])('visible') && !keyFilter([], ['.hidden/**'])('.hidden/x'));
  });
});

describe('partSizeFor', () => {
  it('never needs more than 10,000 parts, and never goes below 5 MiB', () => {
    for (const size of [1, 5 * MiB, 100 * MiB, 50 * 1024 * MiB, 5 * 1024 * 1024 * MiB]) {
      for (const serverSide of [true, false]) {
        const part = partSizeFor(size, defaultTransferOptions, serverSide);
        assert.ok(Math.ceil(size / part) <= 10_000, `${size}`);
        assert.ok(part >= 5 * MiB);
      }
    }
    assert.equal(partSizeFor(100 * MiB, { ...defaultTransferOptions, partSize: 5 * MiB }, true), 5 * MiB);
    assert.equal(partSizeFor(100 * MiB, defaultTransferOptions, false), 8 * MiB);
  });
});

describe('thresholdFor', () => {
  it('keeps server-side copies whole up to 64 MiB and streams above 8 MiB in parts, unless told', () => {
    assert.equal(thresholdFor(defaultTransferOptions, true), 64 * MiB);
    assert.equal(thresholdFor(defaultTransferOptions, false), 8 * MiB);
    assert.equal(thresholdFor({ ...defaultTransferOptions, multipartThreshold: 5 * MiB }, true), 5 * MiB);
  });
});

describe('classify', () => {
  it('tells transient from permanent, and throttles from the rest', () => {
    const s3 = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    assert.deepEqual(
      { ...classify(s3('SlowDown', 503)), message: '' },
      { code: 'SlowDown', message: '', transient: true, throttle: true },
    );
    assert.equal(classify(s3('InternalError', 500)).transient, true);
    assert.equal(classify(s3('InternalError', 500)).throttle, false);
    assert.equal(classify(s3('AccessDenied', 403)).transient, false);
    assert.equal(classify(s3('NoSuchKey', 404)).transient, false);
    assert.equal(classify(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).transient, true);
    assert.equal(classify(new Error('socket hang up')).code, 'ECONNRESET');
  });
});

describe('csvField and copySource', () => {
  it('quotes CSV fields that need it', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
  });
  it('encodes keys for CopySource segment by segment', () => {
    assert.equal(copySource('b', 'a//x y+z?#%.txt'), 'b/a//x%20y%2Bz%3F%23%25.txt');
  });
  it('parses sizes', () => {
    assert.equal(parseSize('64MiB', 'x'), 64 * MiB);
    assert.equal(parseSize('5MB', 'x'), 5_000_000);
    assert.equal(parseSize('123', 'x'), 123);
    assert.throws(() => parseSize('lots', '--part-size'), /--part-size: not a size/);
  });
});

describe('Pool', () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('never runs more than its limit at once, and runs everything', async () => {
    const pool = new Pool({ initial: 3, adaptive: false });
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.run(async () => {
          peak = Math.max(peak, ++running);
          await tick(2);
          running--;
          return i;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
  });

  it('runs high-priority work (parts) before queued normal work', async () => {
    const pool = new Pool({ initial: 1, adaptive: false });
    const order: string[] = [];
    const first = pool.run(() => tick(5).then(() => order.push('first')));
    const normal = pool.run(async () => order.push('normal'));
    const high = pool.run(async () => order.push('high'), 'high');
    await Promise.all([first, normal, high]);
    assert.deepEqual(order, ['first', 'high', 'normal']);
  });

  it('backs off on throttles and grows while throughput grows', async () => {
    const pool = new Pool({ initial: 8, min: 2, max: 64, windowMs: 20 });
    pool.noteThrottle();
    assert.equal(pool.limit, 6);
    pool.noteThrottle();
    assert.equal(pool.limit, 4);
    // Work whose rate scales with concurrency (fixed latency): the limit climbs.
    const until = Date.now() + 400;
    const worker = async (): Promise<void> => {
      while (Date.now() < until) await pool.run(() => tick(5));
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    assert.ok(pool.limit > 8, `limit grew to ${pool.limit}`);
    assert.ok(pool.limit <= 64);
  });

  it('holds no more body bytes in memory than its cap, and still runs a task larger than the cap', async () => {
    const pool = new Pool({ initial: 10, adaptive: false, maxBufferedBytes: 100 });
    let peak = 0;
    const held = async () => {
      peak = Math.max(peak, pool.buffered);
      await tick(3);
    };
    await Promise.all(Array.from({ length: 12 }, () => pool.run(held, 'normal', 40)));
    assert.equal(peak, 80); // two of 40 fit under 100, a third would not
    await pool.run(held, 'normal', 500); // alone, it runs
    assert.equal(peak, 500);
    assert.equal(pool.buffered, 0);
  });

  it('propagates task errors', async () => {
    const pool = new Pool({ initial: 2 });
    await assert.rejects(pool.run(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(pool.inFlight, 0);
  });
});

describe('onLocalFileSystem', () => {
  it('takes memory and disk file systems as local (a path not made yet by its nearest parent), others not', async () => {
    assert.equal(await onLocalFileSystem('/dev/shm/not-made-yet/deeper'), true); // tmpfs
    assert.equal(await onLocalFileSystem('/proc/self'), false); // procfs: not a local disk or memory
  });
});
