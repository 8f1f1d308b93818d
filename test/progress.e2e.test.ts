// What a user sees while a job runs: the CLI in a real pseudo-terminal (util-linux `script`), its
// screen output captured and read back; and the same job with stderr not a terminal. Requests go
// through a proxy that holds each one 5 ms, so the copy lasts long enough to be watched.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { readdir } from 'node:fs/promises';
import { FERRY, localEnv, runFerry, serverWithBuckets, startFerry, tempDir } from './helpers.ts';

const OBJECTS = 1500;
const LINE = /(\d[\d,]*)\/([\d,]+)(\+?) objects, [\d.]+ (?:B|KiB|MiB)\/[\d.]+ (?:B|KiB|MiB), (\d+) obj\/s, [\d.]+ MB\/s(?: ETA \d+:\d\d)?, (\d+) retries, (\d+) failed/;

describe('the progress line', () => {
  let embedded: { server: EmbeddedServer; client: S3Client };
  let slow: http.Server;
  let endpoint: string;

  before(async () => {
    embedded = await serverWithBuckets('watched', 'copies', 'plain');
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < OBJECTS) {
          const i = next++;
          await embedded.client.send(new PutObjectCommand({ Bucket: 'watched', Key: `k${String(i).padStart(5, '0')}`, Body: `object ${i}` }));
        }
      }),
    );
    const target = new URL(embedded.server.endpoint);
    slow = http.createServer((req, res) =>
      setTimeout(() => {
        const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        req.pipe(up);
      }, 5),
    );
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(slow.address() as { port: number }).port}`;
  });
  after(async () => {
    slow?.closeAllConnections();
    await new Promise((r) => slow?.close(r));
    await embedded?.server.stop();
  });

  it('in a terminal: rewritten in place, counting up to the total, then the summary', async () => {
    const args = [process.execPath, '--disable-warning=ExperimentalWarning', FERRY, 'copy', 's3://watched', 's3://copies', '--endpoint-url', endpoint, '--concurrency', '4', '--job-dir', await tempDir()];
    const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    // script runs the command on a new pty and copies what it writes to our stdout.
    const screen = await new Promise<{ code: number; out: string }>((resolve, reject) => {
      const child = spawn('script', ['-qfec', quoted, '/dev/null'], { env: { ...localEnv(), TERM: 'xterm' } });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
    assert.equal(screen.code, 0, screen.out);
    // Each render returns to the start of the line and clears it.
    const renders = screen.out.split('\r\x1b[2K').slice(1).map((r) => r.split(/\r?\n/)[0]!);
    assert.ok(renders.length >= 4, `${renders.length} renders:\n${screen.out}`);
    let before = 0;
    for (const r of renders) {
      const m = LINE.exec(r);
      assert.ok(m, `not a progress line: ${JSON.stringify(r)}`);
      const done = Number(m[1]!.replaceAll(',', ''));
      assert.ok(done >= before, `went back from ${before} to ${done}`);
      assert.ok(done <= Number(m[2]!.replaceAll(',', '')) || m[3] === '+', r);
      before = done;
    }
    const last = LINE.exec(renders.at(-1)!)!;
    assert.deepEqual([last[1], last[2], last[3], last[5], last[6]], ['1,500', '1,500', '', '0', '0']);
    assert.ok(renders.some((r) => / ETA \d+:\d\d/.test(r)), 'an ETA once the total is known');
    assert.match(screen.out, /ferry: succeeded: 1,500 of 1,500 objects copied \(.+\) in [\d.]+ s, \d+ obj\/s, 0 retries/);
  });

  it('ferry status of a job while it runs: counts that grow, then the finished job', async () => {
    const dir = await tempDir();
    const running = startFerry(['copy', 's3://watched', 's3://copies/status', '--endpoint-url', endpoint, '--concurrency', '2', '--json', '--job-dir', dir]);
    let jobId: string | undefined;
    const seen: { phase: string; done: number; total: number }[] = [];
    for (let i = 0; i < 200 && !seen.some((x) => x.phase === 'finished'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      jobId ??= (await readdir(dir).catch(() => []))[0];
      if (!jobId) continue;
      const run = await runFerry(['status', jobId, '--job-dir', dir, '--json']);
      if (run.code !== 0) continue; // job.json not written yet
      const s = JSON.parse(run.stdout);
      seen.push({ phase: s.phase, done: s.objects.copied + s.objects.skipped + s.objects.failed, total: s.objects.total });
    }
    const result = await running.done;
    assert.equal(result.code, 0, result.stderr);
    const midway = seen.filter((x) => x.phase === 'transferring' && x.done > 0 && x.done < OBJECTS);
    assert.ok(midway.length >= 1, JSON.stringify(seen));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.done >= seen[i - 1]!.done, JSON.stringify(seen));
    assert.deepEqual(seen.at(-1), { phase: 'finished', done: OBJECTS, total: OBJECTS });
  });

  it('not a terminal: plain lines, no control characters; with --json nothing but the report on stdout', async () => {
    const run = await runFerry(['copy', 's3://watched', 's3://plain', '--endpoint-url', endpoint, '--concurrency', '4', '--job-dir', await tempDir()], {
      env: localEnv({ FERRY_PROGRESS_MS: '200' }),
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!/[\r\x1b]/.test(run.stderr), JSON.stringify(run.stderr.slice(0, 200)));
    const lines = run.stderr.split('\n').filter((l) => LINE.test(l));
    assert.ok(lines.length >= 2, run.stderr);
    assert.equal(run.stdout, '');
    const json = await runFerry(['copy', 's3://watched', 's3://plain/again', '--endpoint-url', endpoint, '--json', '--job-dir', await tempDir()], {
      env: localEnv({ FERRY_PROGRESS_MS: '200' }),
    });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).objects, { total: OBJECTS, copied: OBJECTS, skipped: 0, failed: 0 });
    assert.equal(json.stderr, '');
  });
});
