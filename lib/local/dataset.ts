// A generated data set with the shapes that break S3 tools: nested prefixes, keys with spaces,
// unicode, `+ & ? # %`, `//`, a key ending in `/`, zero-byte objects, objects above the
// multipart threshold, user metadata and content types. Bodies are derived from the key, so the
// copy can be checked against what was generated, not just against the source.
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Pool } from '../core/pool.ts';

export interface ObjectSpec {
  readonly key: string;
  readonly size: number;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  readonly contentEncoding?: string;
}

const MiB = 1024 * 1024;

export const TRICKY_KEYS = [
  'tricky/with space.txt',
  'tricky/ünïcødé/日本語 ファイル.txt',
  'tricky/plus+and&amp?query#hash%25percent.txt',
  'tricky//double//slash',
  'tricky/folder/',
  'tricky/emoji 😀.txt',
  'tricky/percent%2Fencoded',
  'tricky/trailing space ',
  // Sorts before the emoji key in UTF-8 (S3's order), after it in UTF-16 (JavaScript's).
  'tricky/fullwidth Ａ.txt',
];

/** `count` small objects over nested prefixes, the tricky keys, and `large` sizes (bytes). */
export function datasetSpecs(count: number, large: readonly number[] = [5 * MiB + 3, 12 * MiB, 40 * MiB + 1]): ObjectSpec[] {
  const specs: ObjectSpec[] = [];
  const types = ['application/octet-stream', 'text/plain', 'application/json', 'image/png'];
  for (let i = 0; i < count; i++) {
    const size = i % 97 === 0 ? 0 : (hash32(`size${i}`) % 16_384) + (i % 10 === 0 ? 49_152 : 0);
    specs.push({
      key: `data/${2017 + (i % 9)}/${String(i % 12).padStart(2, '0')}/part-${String(i).padStart(6, '0')}.bin`,
      size,
      contentType: types[i % types.length] as string,
      metadata: { origin: 'ferry-demo', seq: String(i) },
      ...(i % 50 === 0 && { cacheControl: 'max-age=3600', contentDisposition: `attachment; filename="f${i}.bin"` }),
      ...(i % 75 === 0 && { contentEncoding: 'identity' }),
    });
  }
  TRICKY_KEYS.forEach((key, i) => {
    specs.push({ key, size: key.endsWith('/') ? 0 : 100 + i, contentType: 'text/plain; charset=utf-8', metadata: { tricky: String(i) } });
  });
  large.forEach((size, i) => {
    specs.push({ key: `large/object-${i}.bin`, size, contentType: 'application/x-ferry-large', metadata: { large: String(size) } });
  });
  return specs;
}

function hash32(text: string): number {
  return createHash('md5').update(text).digest().readUInt32LE(0);
}

/** The body of a spec: deterministic bytes from its key (SHA-256 in counter mode). */
export function bodyOf(spec: Pick<ObjectSpec, 'key' | 'size'>): Buffer {
  const out = Buffer.allocUnsafe(spec.size);
  const seed = createHash('sha256').update(spec.key).digest();
  for (let off = 0, n = 0; off < spec.size; off += 32, n++) {
    const block = createHash('sha256').update(seed).update(String(n)).digest();
    block.copy(out, off, 0, Math.min(32, spec.size - off));
  }
  return out;
}

function headers(spec: ObjectSpec) {
  return {
    ContentType: spec.contentType,
    Metadata: spec.metadata,
    CacheControl: spec.cacheControl,
    ContentDisposition: spec.contentDisposition,
    ContentEncoding: spec.contentEncoding,
  };
}

/** Uploads the data set: single PUTs, and multipart for objects above 8 MiB. */
export async function uploadDataset(client: S3Client, bucket: string, specs: readonly ObjectSpec[], prefix = ''): Promise<void> {
  const pool = new Pool({ initial: 64, adaptive: false });
  await Promise.all(
    specs.map((spec) =>
      pool.run(async () => {
        const Key = prefix + spec.key;
        const body = bodyOf(spec);
        if (spec.size <= 8 * MiB) {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body, ...headers(spec) }));
          return;
        }
        const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, ...headers(spec) }));
        const Parts = [];
        for (let off = 0, n = 1; off < spec.size; off += 8 * MiB, n++) {
          const part = await client.send(
            new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: n, Body: body.subarray(off, off + 8 * MiB) }),
          );
          Parts.push({ ETag: part.ETag, PartNumber: n });
        }
        await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts } }));
      }),
    ),
  );
}

export interface Mismatch {
  key: string;
  problem: string;
}

/**
 * Checks that `bucket/prefix` holds exactly the specs: the same keys and no others, every byte,
 * the content type, the user metadata and the cache/disposition/encoding headers.
 */
export async function verifyAgainstSpecs(
  client: S3Client,
  bucket: string,
  prefix: string,
  specs: readonly ObjectSpec[],
): Promise<{ objects: number; bytes: number; mismatches: Mismatch[] }> {
  const mismatches: Mismatch[] = [];
  const listed = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }));
    for (const o of page.Contents ?? []) listed.set((o.Key as string).slice(prefix.length), o.Size ?? -1);
    token = page.NextContinuationToken;
  } while (token);
  const expected = new Set(specs.map((s) => s.key));
  for (const key of listed.keys()) if (!expected.has(key)) mismatches.push({ key, problem: 'unexpected object' });

  const pool = new Pool({ initial: 64, adaptive: false });
  let bytes = 0;
  await Promise.all(
    specs.map((spec) =>
      pool.run(async () => {
        if (!listed.has(spec.key)) {
          mismatches.push({ key: spec.key, problem: 'missing' });
          return;
        }
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + spec.key }));
        const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
        bytes += body.length;
        const problems: string[] = [];
        if (!body.equals(bodyOf(spec))) problems.push(`bytes differ (${body.length} vs ${spec.size})`);
        if (got.ContentType !== spec.contentType) problems.push(`content type ${got.ContentType}`);
        if (JSON.stringify(sorted(got.Metadata ?? {})) !== JSON.stringify(sorted(spec.metadata))) {
          problems.push(`metadata ${JSON.stringify(got.Metadata)}`);
        }
        if (got.CacheControl !== spec.cacheControl) problems.push(`cache-control ${got.CacheControl}`);
        if (got.ContentDisposition !== spec.contentDisposition) problems.push(`content-disposition ${got.ContentDisposition}`);
        if (got.ContentEncoding !== spec.contentEncoding) problems.push(`content-encoding ${got.ContentEncoding}`);
        if (problems.length) mismatches.push({ key: spec.key, problem: problems.join('; ') });
      }),
    ),
  );
  return { objects: specs.length, bytes, mismatches };
}

function sorted(o: Record<string, string>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1));
}

