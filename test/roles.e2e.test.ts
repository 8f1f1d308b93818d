// A side reached through an assumed role (another account's, with an ExternalId). STS cannot run
// here: a stand-in answers AssumeRole (and records what it was asked) with fixed temporary
// credentials; a recording layer in front of the embedded S3 endpoint shows which credentials
// signed each request. Everything else is the real CLI against the real endpoint.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { EmbeddedServer } from '../lib/local/server.ts';
import { listAll, localEnv, runFerry, serverWithBuckets, tempDir } from './helpers.ts';

const ROLE = 'arn:aws:iam::111122223333:role/ferry-read';

async function listen(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('a side reached through an assumed role', () => {
  let embedded: { server: EmbeddedServer; client: S3Client };
  let sts: { url: string; server: http.Server };
  let recorder: { url: string; server: http.Server };
  const assumeCalls: URLSearchParams[] = [];
  /** The access key that signed each request through the recorder. */
  const signedBy: string[] = [];

  before(async () => {
    embedded = await serverWithBuckets('other-account', 'mine');
    for (let i = 0; i < 20; i++) await embedded.client.send(new PutObjectCommand({ Bucket: 'other-account', Key: `k${i}`, Body: `object ${i}` }));
    sts = await listen((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        assumeCalls.push(new URLSearchParams(body));
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>' +
            '<AccessKeyId>ASIAFERRYTEST</AccessKeyId><SecretAccessKey>temporary</SecretAccessKey><SessionToken>session</SessionToken>' +
            `<Expiration>${new Date(Date.now() + 3_600_000).toISOString()}</Expiration></Credentials>` +
            '<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/ferry-read/ferry</Arn><AssumedRoleId>AROAFERRY:ferry</AssumedRoleId></AssumedRoleUser>' +
            '</AssumeRoleResult></AssumeRoleResponse>',
        );
      });
    });
    const target = new URL(embedded.server.endpoint);
    recorder = await listen((req, res) => {
      signedBy.push(/Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '(unsigned)');
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
  });
  after(async () => {
    for (const s of [sts?.server, recorder?.server]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    await embedded?.server.stop();
  });

  it('assumes the role with its ExternalId for that side only, and copies every object', async () => {
    const run = await runFerry(
      ['copy', 's3://other-account', 's3://mine/copy', '--source-endpoint-url', recorder.url, '--dest-endpoint-url', embedded.server.endpoint,
        '--source-role-arn', ROLE, '--source-external-id', 'ferry-ext-42', '--json', '--job-dir', await tempDir()],
      { env: localEnv({ AWS_ENDPOINT_URL_STS: sts.url }) },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).objects, { total: 20, copied: 20, skipped: 0, failed: 0 });
    assert.deepEqual((await listAll(embedded.client, 'mine', 'copy/')).length, 20);
    assert.ok(assumeCalls.length >= 1);
    for (const call of assumeCalls) {
      assert.equal(call.get('Action'), 'AssumeRole');
      assert.equal(call.get('RoleArn'), ROLE);
      assert.equal(call.get('ExternalId'), 'ferry-ext-42');
    }
    // Every request to the source was signed with the role's temporary credentials.
    assert.ok(signedBy.length > 20);
    assert.deepEqual([...new Set(signedBy)], ['ASIAFERRYTEST']);
    assert.ok(!run.stdout.includes('temporary') && !run.stderr.includes('temporary'), 'no secret in the output');
  });

  it('a malformed role ARN, or an ExternalId without a role: one line, exit 2', async () => {
    for (const [args, message] of [
      [['--source-role-arn', 'ferry-read'], /--source-role-arn: not a role ARN/],
      [['--dest-external-id', 'x'], /--dest-external-id goes with --dest-role-arn/],
    ] as const) {
      const run = await runFerry(['copy', 's3://other-account', 's3://mine/x', '--endpoint-url', embedded.server.endpoint, ...args, '--job-dir', await tempDir()]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
    }
  });
});
