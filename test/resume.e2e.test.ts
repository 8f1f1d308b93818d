// An interrupted local job carries on where it was: Ctrl-C, then `ferry copy --resume JOB`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { datasetSpecs, uploadDataset, verifyAgainstSpecs } from '../lib/local/dataset.ts';
import { FERRY, localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';

describe('ferry copy --resume', () => {
  it('finishes an interrupted job, every object copied once in the report', async () => {
    const { server, client } = await serverWithBuckets('resume-src', 'resume-dst');
    try {
      const specs = datasetSpecs(600, []);
      await uploadDataset(client, 'resume-src', specs);
      const jobDir = await tempDir();
      const env = localEnv({ AWS_ENDPOINT_URL: server.endpoint, FERRY_PROGRESS_MS: '50' });
      // Slow on purpose (2 requests at a time, 20-object manifests, 30 ms invocations), so that
      // Ctrl-C lands in the middle of copying.
      const args = ['copy', 's3://resume-src', 's3://resume-dst', '--concurrency', '2', '--manifest-max-entries', '20', '--invocation-ms', '30', '--job-dir', jobDir];
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
        const done = [...stderr.matchAll(/^([\d,]+)\/[\d,]+ objects/gm)].map((m) => Number((m[1] as string).replaceAll(',', '')));
        if ((done.at(-1) ?? 0) >= 150 && child.exitCode === null && !child.killed) child.kill('SIGINT');
      });
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 130, stderr);
      const jobId = /--resume (\S+)/.exec(stderr)?.[1];
      assert.ok(jobId, stderr);
      const before = await verifyAgainstSpecs(client, 'resume-dst', '', specs);
      const missing = before.mismatches.filter((m) => m.problem === 'missing').length;
      assert.ok(missing > 0 && missing < specs.length, `interrupted part-way: ${missing} missing`);

      const resumed = await runFerry(['copy', '--resume', jobId as string, '--job-dir', jobDir, '--json'], { env });
      assert.equal(resumed.code, 0, resumed.stderr);
      const out = JSON.parse(resumed.stdout);
      assert.equal(out.jobId, jobId);
      assert.deepEqual(out.objects, { total: specs.length, copied: specs.length, skipped: 0, failed: 0 });
      assert.deepEqual((await verifyAgainstSpecs(client, 'resume-dst', '', specs)).mismatches, []);
      assert.equal(JSON.parse(await readFile(out.reportPath, 'utf8')).objects.copied, specs.length);

      const again = await runFerry(['copy', '--resume', jobId as string, '--job-dir', jobDir], { env });
      assert.equal(again.code, 2);
      assert.match(again.stderr, /has finished/);
      const unknown = await runFerry(['copy', '--resume', 'no-such-job', '--job-dir', jobDir], { env });
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /^ferry: no job no-such-job in /);
    } finally {
      await server.stop();
    }
  });
});
