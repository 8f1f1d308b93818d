#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// Sync's decision engine alone: two synthetic sorted listings (generated on the fly, never stored)
// merge-joined and decided, as the planner does for two S3 listings. The destination lacks every
// 10th key, has an extra key after every 50th, an older size for every 100th and an older time for
// every 7th. Prints keys/s and peak memory; run it with two counts to see memory not grow.
//   node bench/diff.ts [keys-per-side]      (default 10,000,000)
import { type Decision, decide, type Entry, mergeJoin } from '../lib/core/diff.ts';

const n = Number(process.argv[2] ?? 10_000_000);
const before = new Date('2026-11-01T00:00:00Z');
const after = new Date('2026-11-02T00:00:00Z');

// Keys of mixed depth and width, in UTF-8 order by construction (zero-padded numbers under fixed prefixes).
const keyOf = (i: number) => `logs/${String(Math.floor(i / 1000)).padStart(6, '0')}/part-${String(i % 1000).padStart(4, '0')}.json.gz`;

async function* source(): AsyncGenerator<Entry> {
  for (let i = 0; i < n; i++) yield { key: keyOf(i), size: 4096 + (i % 512), etag: `"${i.toString(16).padStart(32, '0')}"`, time: before };
}

async function* destination(): AsyncGenerator<Entry> {
  for (let i = 0; i < n; i++) {
    if (i % 10 !== 0) {
      const size = 4096 + (i % 512) + (i % 100 === 1 ? 1 : 0);
      yield { key: keyOf(i), size, etag: `"${i.toString(16).padStart(32, '0')}"`, time: i % 7 === 0 ? new Date(0) : after };
    }
    if (i % 50 === 0) yield { key: `${keyOf(i)}.old`, size: 1, time: after };
  }
}

let peak = 0;
const sample = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);
const counts: Record<string, number> = {};
const started = process.hrtime.bigint();
let keys = 0;
for await (const [s, d] of mergeJoin(source(), destination())) {
  const decision: Decision = decide(s, d, 'time');
  const name = decision.action === 'copy' ? `copy ${decision.reason}` : decision.action;
  counts[name] = (counts[name] ?? 0) + 1;
  keys++;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
clearInterval(sample);
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(
  `${n} keys a side, ${keys} joined in ${seconds.toFixed(1)} s: ${Math.round((2 * n) / seconds).toLocaleString('en')} listed keys/s, ` +
    `peak RSS ${Math.round(peak / 1024 / 1024)} MB\n${JSON.stringify(counts)}\n`,
);
