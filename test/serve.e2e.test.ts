// `ferry serve`: the embedded endpoint on loopback for trying commands by hand.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type ListObjectsV2CommandInput, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { embeddedClient, startEmbedded } from '../lib/local/server.ts';
import { FERRY, localEnv } from './helpers.ts';

async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((r) => server.close(r));
  return ok;
}

/** A free port whose successor is free too (serve takes N and N+1). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise((r) => server.close(r));
    if (port < 65535 && (await canListen(port + 1))) return port;
  }
}

describe('ferry serve', () => {
  it('serves S3 on 127.0.0.1 until SIGTERM, then exits 0', async () => {
    const port = await freePortPair();
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, 'serve', '--port', String(port)], {
      env: localEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let exited = false;
    child.once('exit', () => (exited = true));
    while (!stderr.includes('Ctrl-C') && !exited) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!exited, stderr);
    assert.match(stderr, new RegExp(`endpoint at http://127\\.0\\.0\\.1:${port}`));
    const client = embeddedClient(`http://127.0.0.1:${port}`);
    await client.send(new CreateBucketCommand({ Bucket: 'by-hand' }));
    await client.send(new PutObjectCommand({ Bucket: 'by-hand', Key: 'a b', Body: 'hello' }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'by-hand', Key: 'a b' }));
    assert.equal(await got.Body?.transformToString(), 'hello');
    // A work queue for fleet mode, with its dead-letter queue.
    const queue = /work queue for fleet mode at (\S+) /.exec(stderr)?.[1] as string;
    assert.equal(queue, `http://127.0.0.1:${port}/000000000000/ferry-work`);
    const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
    const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue, AttributeNames: ['RedrivePolicy'] }));
    assert.match(attributes.Attributes?.RedrivePolicy ?? '', /ferry-work-dlq.*"maxReceiveCount":5/);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });
});

/** Every page of a listing: its keys, and its common prefixes. */
async function listAll(client: S3Client, input: ListObjectsV2CommandInput): Promise<{ keys: string[]; prefixes: string[] }> {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ ...input, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key as string));
    prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix as string));
    token = page.NextContinuationToken;
  } while (token);
  return { keys, prefixes };
}

/** S3's order, from the bytes themselves: UTF-8, compared byte by byte. */
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('the embedded endpoint', () => {
  it('lists in S3 order across pages, by prefix, delimiter and StartAfter, and sees keys added and removed between pages', async () => {
    const server = await startEmbedded();
    const client = embeddedClient(server.endpoint);
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'order' }));
      // 'Ａ' (U+FF21) comes before '😀' in UTF-8 and after it in UTF-16; 'd' and 'd/' and 'd0' meet at the prefix.
      const keys = ['d', 'd/a', 'd/b/1', 'd/b/2', 'd/c', 'd0', 'e Ａ', 'e 😀', 'e z', ...Array.from({ length: 40 }, (_, i) => `f/${i}`)];
      for (const key of keys) await client.send(new PutObjectCommand({ Bucket: 'order', Key: key, Body: key }));
      const expected = [...keys].sort(utf8Order);

      assert.deepEqual((await listAll(client, { Bucket: 'order', MaxKeys: 7 })).keys, expected);
      assert.deepEqual(await listAll(client, { Bucket: 'order', Prefix: 'd/', Delimiter: '/', MaxKeys: 1 }), { keys: ['d/a', 'd/c'], prefixes: ['d/b/'] });
      assert.deepEqual((await listAll(client, { Bucket: 'order', Prefix: 'e ' })).keys, ['e z', 'e Ａ', 'e 😀']);
      assert.deepEqual((await listAll(client, { Bucket: 'order', StartAfter: 'e Ａ', MaxKeys: 5 })).keys, expected.slice(expected.indexOf('e Ａ') + 1));
      assert.deepEqual((await listAll(client, { Bucket: 'order', Prefix: 'f/', StartAfter: 'd' })).keys.length, 40);

      // Between pages: a key added ahead of the listing, then one removed ahead of it, then one overwritten.
      const changes = [
        () => client.send(new PutObjectCommand({ Bucket: 'order', Key: 'f/15a', Body: 'new' })),
        () => client.send(new DeleteObjectCommand({ Bucket: 'order', Key: 'f/20' })),
        () => client.send(new PutObjectCommand({ Bucket: 'order', Key: 'f/3', Body: 'longer than before' })),
      ];
      const listed: { key: string; size: number }[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: 'order', MaxKeys: 10, ContinuationToken: token }));
        listed.push(...(page.Contents ?? []).map((o) => ({ key: o.Key as string, size: o.Size as number })));
        token = page.NextContinuationToken;
        await changes.shift()?.();
      } while (token);
      assert.deepEqual(changes, []);
      const now = [...expected.filter((k) => k !== 'f/20'), 'f/15a'].sort(utf8Order);
      assert.deepEqual(listed.map((o) => o.key), now);
      assert.equal(listed.find((o) => o.key === 'f/3')?.size, 'longer than before'.length);
    } finally {
      await server.stop();
    }
  });
});
