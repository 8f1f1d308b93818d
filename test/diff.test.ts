// Unit tests of sync's decisions: the truth table, and the merge-join of two sorted listings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Compare, decide, type Entry, mergeJoin } from '../lib/core/diff.ts';
import { compareKeys } from '../lib/core/keys.ts';
import { ListingOrderError } from '../lib/core/listing.ts';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const md5a = '"0cc175b9c0f1b6a831c399e269772661"';
const md5b = '"92eb5ffee6ae2fec3ad71c777531578f"';
const multipart = '"d41d8cd98f00b204e9800998ecf8427e-3"';
const multipart2 = '"9e107d9d372bb6826bd81d3542a419d6-2"';

describe('decide: the truth table', () => {
  const e = (size: number, time: number, etag?: string): Entry => ({ key: 'k', size, time: t(time), ...(etag && { etag }) });
  // [source, destination, compare, expected] for every row and column of the table in diff.ts.
  const rows: [Entry | undefined, Entry | undefined, Compare, string][] = [
    [e(1, 0), undefined, 'time', 'copy missing'],
    [e(1, 0), undefined, 'size-only', 'copy missing'],
    [e(1, 0), undefined, 'checksum', 'copy missing'],
    [undefined, e(1, 0), 'time', 'extra'],
    [undefined, e(1, 0), 'size-only', 'extra'],
    [undefined, e(1, 0), 'checksum', 'extra'],
    [e(1, 0), e(2, 9), 'time', 'copy size'],
    [e(1, 0, md5a), e(2, 9, md5a), 'checksum', 'copy size'],
    [e(1, 0), e(2, 9), 'size-only', 'copy size'],
    [e(1, 9), e(1, 0), 'size-only', 'skip'],
    [e(1, 9), e(1, 0), 'time', 'copy newer'],
    [e(1, 0), e(1, 9), 'time', 'skip'],
    // The same second: which came first cannot be told, so it is sent again.
    [e(1, 5), e(1, 5), 'time', 'copy newer'],
    [e(1, 9, md5a), e(1, 0, md5a), 'checksum', 'skip'],
    [e(1, 0, md5a), e(1, 9, md5b), 'checksum', 'copy checksum'],
    [e(1, 0, multipart), e(1, 9, multipart), 'checksum', 'skip'],
    // Different part sizes give different multipart ETags for the same bytes: the time decides.
    [e(1, 0, multipart), e(1, 9, multipart2), 'checksum', 'skip'],
    [e(1, 9, multipart), e(1, 0, md5a), 'checksum', 'copy newer'],
    [e(1, 0, md5a), e(1, 9), 'checksum', 'skip'],
    [e(1, 0, md5a), e(1, 9, md5b), 'time', 'skip'],
  ];
  for (const [source, destination, compare, expected] of rows) {
    const name = `${source ? `${source.size}B@${source.time?.getUTCSeconds()}${source.etag ? ` ${source.etag.slice(1, 5)}` : ''}` : '-'} vs ${destination ? `${destination.size}B@${destination.time?.getUTCSeconds()}${destination.etag ? ` ${destination.etag.slice(1, 5)}` : ''}` : '-'} ${compare}: ${expected}`;
    it(name, () => {
      const d = decide(source, destination, compare);
      assert.equal(d.action === 'copy' ? `copy ${d.reason}` : d.action, expected);
    });
  }
  it('copies when a side has no time to prove the destination current', () => {
    assert.deepEqual(decide({ key: 'k', size: 1 }, { key: 'k', size: 1, time: t(9) }, 'time'), { action: 'copy', reason: 'newer' });
  });
});

async function* listing(keys: readonly string[], size = 1): AsyncGenerator<Entry> {
  for (const key of keys) yield { key, size };
}

async function joined(a: readonly string[], b: readonly string[]) {
  const out: string[] = [];
  for await (const [x, y] of mergeJoin(listing(a), listing(b))) out.push(`${x?.key ?? '-'}|${y?.key ?? '-'}`);
  return out;
}

describe('mergeJoin', () => {
  it('pairs equal keys and yields the others on their side, in key order', async () => {
    assert.deepEqual(await joined(['a', 'b', 'd'], ['b', 'c', 'd', 'e']), ['a|-', 'b|b', '-|c', 'd|d', '-|e']);
    assert.deepEqual(await joined([], ['x']), ['-|x']);
    assert.deepEqual(await joined(['x'], []), ['x|-']);
    assert.deepEqual(await joined([], []), []);
  });

  it('joins in UTF-8 byte order, where UTF-16 order would call matching keys missing', async () => {
    // 'Ａ' (U+FF21) sorts after '😀' in UTF-16 units but before it in UTF-8 bytes, as S3 lists.
    const keys = ['a', 'Ａ', '😀', '😀/x', '\uE000'].sort(compareKeys);
    assert.deepEqual(keys, ['a', '\uE000', 'Ａ', '😀', '😀/x']);
    assert.deepEqual(await joined(keys, keys), keys.map((k) => `${k}|${k}`));
    assert.deepEqual(await joined(['Ａ', '😀'], ['😀']), ['Ａ|-', '😀|😀']);
  });

  it('refuses a listing out of order instead of reporting keys as missing', async () => {
    await assert.rejects(joined(['a', 'c'], ['😀', 'Ａ']), ListingOrderError);
    await assert.rejects(joined(['b', 'a'], []), ListingOrderError);
  });

  it('joins large generated listings with every key accounted for once', async () => {
    // Two listings of 40,000 keys, each missing some of the other's: every key is yielded once,
    // paired exactly when both have it.
    const all = Array.from({ length: 50_000 }, (_, i) => `p/${(i * 7919) % 50_000}/k${i % 13 === 0 ? '😀' : 'Ａ'}`).sort(compareKeys);
    const a = all.filter((_, i) => i % 5 !== 0);
    const b = all.filter((_, i) => i % 4 !== 0);
    let both = 0;
    let onlyA = 0;
    let onlyB = 0;
    let previous = '';
    for await (const [x, y] of mergeJoin(listing(a), listing(b))) {
      const key = (x ?? y)!.key;
      assert.ok(previous === '' || compareKeys(previous, key) < 0);
      previous = key;
      if (x && y) both++;
      else if (x) onlyA++;
      else onlyB++;
    }
    assert.equal(both, all.filter((_, i) => i % 5 !== 0 && i % 4 !== 0).length);
    assert.equal(onlyA, all.filter((_, i) => i % 5 !== 0 && i % 4 === 0).length);
    assert.equal(onlyB, all.filter((_, i) => i % 5 === 0 && i % 4 !== 0).length);
    assert.equal(both + onlyA + onlyB, all.filter((_, i) => i % 20 !== 0).length);
  });
});
