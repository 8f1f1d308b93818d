// `ferry serve`: the embedded endpoint on loopback for trying commands by hand.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { embeddedClient } from '../lib/local/server.ts';
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
