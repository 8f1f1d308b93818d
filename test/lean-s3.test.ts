// The lean CopyObject path signs requests itself: its SigV4 must match the SDK's signer, which AWS
// maintains, byte for byte; and its errors must look like the SDK's to retry and reporting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { classify } from '../lib/core/errors.ts';
import { encodeKey, LeanS3, signV4 } from '../lib/core/lean-s3.ts';
import { type ListedObject, listObjects } from '../lib/core/listing.ts';
import { startFaultProxy } from './proxy.ts';
import { serverWithBuckets } from './helpers.ts';

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}

/** The hash interface the SDK signer takes, over node:crypto (HMAC when given a secret). */
class Sha256 {
  readonly #hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

describe('lean S3 path', () => {
  it('signs exactly as the SDK signer does, with and without a session token', async () => {
    for (const credentials of [
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars=' },
    ]) {
      const date = new Date('2026-11-21T06:55:12.345Z');
      const key = 'dir//ünï cødé/+&?#%!*()\'~.txt';
      const extra = {
        'x-amz-copy-source': `src/${encodeKey(key)}`,
        'x-amz-copy-source-if-match': '"0123abcd"',
        'x-amz-metadata-directive': 'COPY',
        'content-length': '0',
      };
      const ours = signV4({ method: 'PUT', host: 'dst.s3.eu-west-3.amazonaws.com', path: `/${encodeKey(key)}`, headers: extra, region: 'eu-west-3', credentials, date });
      const signer = new SignatureV4({ service: 's3', region: 'eu-west-3', credentials, sha256: Sha256, uriEscapePath: false, applyChecksum: true });
      const request = {
        method: 'PUT',
        protocol: 'https:',
        hostname: 'dst.s3.eu-west-3.amazonaws.com',
        path: `/${encodeKey(key)}`,
        headers: { ...extra, host: 'dst.s3.eu-west-3.amazonaws.com', 'x-amz-content-sha256': ours['x-amz-content-sha256'] as string },
        query: {},
      };
      const signed = await signer.sign(request, { signingDate: date });
      assert.equal(ours.authorization, signed.headers.authorization);
    }
  });

  it('encodes keys as S3 expects in a path', () => {
    assert.equal(encodeKey("a b/c+d/e!'()*~._-"), 'a%20b/c%2Bd/e%21%27%28%29%2A~._-');
    assert.equal(encodeKey('x//y/'), 'x//y/');
  });

  it('reports S3 errors with their code and status, so they are classified like the SDK\'s', async () => {
    const { server } = await serverWithBuckets('lean-dst');
    const proxy = await startFaultProxy(server.endpoint, (_r, n) => (n === 0 ? 'slowdown' : 'deny'));
    try {
      const client = new S3Client({ endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const lean = await LeanS3.for(client);
      assert.ok(lean);
      const copy = () => (lean as LeanS3).copyObject({ Bucket: 'lean-dst', Key: 'k', CopySource: 'lean-dst/none' });
      const throttled = await copy().catch((e: unknown) => e);
      assert.deepEqual({ ...classify(throttled), message: '' }, { code: 'SlowDown', message: '', transient: true, throttle: true });
      const denied = await copy().catch((e: unknown) => e);
      assert.deepEqual({ ...classify(denied), message: '' }, { code: 'AccessDenied', message: '', transient: false, throttle: false });
    } finally {
      await proxy.stop();
      await server.stop();
    }
  });

  it('a shared path signs with the credentials shared, and asks once for fresh ones when they are about to expire', async () => {
    const { server, client } = await serverWithBuckets('lean-shared');
    await client.send(new PutObjectCommand({ Bucket: 'lean-shared', Key: 'k', Body: 'shared' }));
    const signedAs: string[] = []; // each request's session token and access key
    const proxy = await startFaultProxy(server.endpoint, ({ headers }) => {
      signedAs.push(`${headers['x-amz-security-token']} ${/Credential=([^/]+)/.exec(String(headers.authorization))?.[1]}`);
      return 'pass';
    });
    try {
      const shared = (expiresInMs: number) => ({ accessKeyId: 'shared', secretAccessKey: 's', sessionToken: 't1', expiration: new Date(Date.now() + expiresInMs) });
      let asked = 0;
      const fresh = async () => ({ accessKeyId: 'fresh', secretAccessKey: 's', sessionToken: `t${++asked + 1}`, expiration: new Date(Date.now() + 3_600_000) });
      const get = (lean: LeanS3) => lean.getObject({ Bucket: 'lean-shared', Key: 'k' });

      const lasting = LeanS3.shared({ endpoint: proxy.endpoint, region: 'us-east-1', credentials: shared(10 * 60_000) }, fresh);
      assert.equal((await get(lasting)).Body.toString(), 'shared');
      assert.deepEqual([asked, signedAs.splice(0)], [0, ['t1 shared']]);

      // Within a minute of expiring: five requests at once ask once, and sign with what came back; the next asks no more.
      const expiring = LeanS3.shared({ endpoint: proxy.endpoint, region: 'us-east-1', credentials: shared(30_000) }, fresh);
      await Promise.all([1, 2, 3, 4, 5].map(() => get(expiring)));
      await get(expiring);
      assert.deepEqual([asked, signedAs.splice(0)], [1, Array(6).fill('t2 fresh')]);

      // Fresh credentials that cannot be had fail the request with why, and nothing is sent.
      const refused = Object.assign(new Error('the role cannot be assumed'), { name: 'AccessDenied' });
      const stale = LeanS3.shared({ endpoint: proxy.endpoint, region: 'us-east-1', credentials: shared(-1000) }, () => Promise.reject(refused));
      await assert.rejects(get(stale), refused);
      assert.deepEqual(signedAs, []);
    } finally {
      await proxy.stop();
      await server.stop();
    }
  });

  it('lists objects from the XML exactly as the SDK parses them: keys, sizes, ETags, classes, dates, pages', async () => {
    const { server, client } = await serverWithBuckets('lean-list');
    try {
      const keys = ['a&b', 'c<d>e', 'quote"s\'', 'p/ü ñ/x', 'p/sp ace', 'p/tab\tkey', 'p/%41+=', 'z/\u{1F600}', 'z/last'];
      for (const [i, Key] of keys.entries()) {
        await client.send(new PutObjectCommand({ Bucket: 'lean-list', Key, Body: Buffer.alloc(i * 10, i) }));
      }
      const listed = async (prefix: string, startAfter: string, pageSize: number, sdk: boolean) => {
        const out: ListedObject[] = [];
        for await (const o of listObjects(client, 'lean-list', prefix, startAfter, { pageSize, sdk })) out.push(o);
        return out;
      };
      for (const [prefix, startAfter] of [['', ''], ['p/', ''], ['', 'c<d>e'], ['z/', '\u{1F600}']] as const) {
        for (const pageSize of [1, 2, 1000]) {
          const lean = await listed(prefix, startAfter, pageSize, false);
          assert.deepEqual(lean, await listed(prefix, startAfter, pageSize, true), `prefix "${prefix}" after "${startAfter}", ${pageSize} a page`);
          const expected = keys.filter((k) => k.startsWith(prefix) && k.slice(prefix.length) > startAfter).map((k) => k.slice(prefix.length));
          assert.deepEqual(lean.map((o) => o.key), expected.sort());
        }
      }
      const all = await listed('', '', 3, false);
      const second = all.find((o) => o.key === 'c<d>e')!;
      assert.equal(second.size, 10);
      assert.equal(second.etag, `"${createHash('md5').update(Buffer.alloc(10, 1)).digest('hex')}"`);
      assert.ok(second.lastModified instanceof Date && Math.abs(second.lastModified.getTime() - Date.now()) < 600_000);
    } finally {
      await server.stop();
    }
  });
});
