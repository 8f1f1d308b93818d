// report.html as a user opens it: a job with failures (the fault proxy denies some keys), its page
// loaded in headless Chromium (Debian's package), the DOM read back after rendering and every
// figure compared with report.json, and a screenshot taken (kept beside the report).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { runFerry, serverWithBuckets, tempDir } from './helpers.ts';
import { type FaultProxy, startFaultProxy } from './proxy.ts';

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const chromium = (...args: string[]) =>
  run(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });

describe('report.html', () => {
  let embedded: { server: EmbeddedServer; client: S3Client };
  let proxy: FaultProxy;

  before(async () => {
    embedded = await serverWithBuckets('pages', 'pages-copy');
    for (let i = 0; i < 120; i++) {
      const key = i % 20 === 0 ? `deny-${i}` : `ok/${String(i).padStart(3, '0')}`;
      await embedded.client.send(new PutObjectCommand({ Bucket: 'pages', Key: key, Body: Buffer.alloc(1000 + i, i) }));
    }
    // The destination refuses the `deny-` keys, as a bucket policy would.
    proxy = await startFaultProxy(embedded.server.endpoint, (req) => (req.method === 'PUT' && req.url.includes('/deny-') ? 'deny' : 'pass'));
  });
  after(async () => {
    await proxy?.stop();
    await embedded?.server.stop();
  });

  it('opens in headless Chromium with the numbers of report.json: counts, bytes, failures by code, the chart', async () => {
    const dir = await tempDir();
    const copy = await runFerry(['copy', 's3://pages', 's3://pages-copy', '--endpoint-url', proxy.endpoint, '--manifest-max-entries', '25', '--json', '--job-dir', dir]);
    assert.equal(copy.code, 1, copy.stderr);
    const reportPath = JSON.parse(copy.stdout).reportPath as string;
    const report = JSON.parse(await readFile(reportPath, 'utf8'));
    assert.deepEqual(report.failuresByCode, { AccessDenied: 6 });
    const page = path.join(path.dirname(reportPath), 'report.html');

    const { stdout: dom } = await chromium('--dump-dom', `file://${page}`);
    const figures = new Map([...dom.matchAll(/data-figure="([^"]+)"(?:\s+data-value="([^"]*)")?[^>]*>([^<]*)/g)].map((m) => [m[1]!, { value: m[2], text: m[3]! }]));
    const value = (name: string) => Number(figures.get(name)?.value);
    assert.equal(figures.get('status')?.text, 'failed');
    assert.equal(value('objects.total'), report.objects.total);
    assert.equal(value('objects.copied'), report.objects.copied);
    assert.equal(value('objects.skipped'), report.objects.skipped);
    assert.equal(value('objects.failed'), report.objects.failed);
    assert.equal(value('bytes.total'), report.bytes.total);
    assert.equal(value('bytes.copied'), report.bytes.copied);
    assert.equal(value('retries'), report.retries);
    assert.equal(value('manifests'), report.manifests);
    assert.equal(value('failures.AccessDenied'), 6);
    assert.equal(value('failureCodes'), 1);
    assert.equal(value('durationSeconds'), report.durationMs / 1000);
    // The chart: one point per finished manifest after the origin.
    const points = /<polyline points="([^"]+)"/.exec(dom)?.[1]?.split(' ') ?? [];
    assert.equal(points.length, report.manifests + 1);
    // The slowest objects are real keys of the job.
    const slow = [...dom.matchAll(/<tr><th><code>(ok\/\d{3})<\/code><\/th>/g)].map((m) => m[1]);
    assert.ok(slow.length >= 5 && slow.length <= 20, dom);

    // A screenshot, as a user would attach: a PNG of the requested width.
    const shot = path.join(path.dirname(reportPath), 'report.png');
    await chromium(`--screenshot=${shot}`, '--window-size=800,1400', `file://${page}`);
    const png = await readFile(shot);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(png.readUInt32BE(16), 800);
    assert.ok((await stat(shot)).size > 10_000, `${shot} is ${png.length} bytes`);
  });
});
