// `ferry serve`: the embedded endpoint on loopback for trying commands by hand.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { clientFor, FERRY, localEnv } from './helpers.ts';

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  return port;
}

describe('ferry serve', () => {
  it('serves S3 on 127.0.0.1 until SIGTERM, then exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FERRY, 'serve', '--port', String(port)], {
      env: localEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    while (!stderr.includes('Ctrl-C')) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, new RegExp(`endpoint at http://127\\.0\\.0\\.1:${port}`));
    const client = clientFor(`http://127.0.0.1:${port}`);
    await client.send(new CreateBucketCommand({ Bucket: 'by-hand' }));
    await client.send(new PutObjectCommand({ Bucket: 'by-hand', Key: 'a b', Body: 'hello' }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'by-hand', Key: 'a b' }));
    assert.equal(await got.Body?.transformToString(), 'hello');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });
});
