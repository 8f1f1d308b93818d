import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
  type StorageClass,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { classify, type ErrorInfo, IntegrityError } from './errors.ts';
import { plainMd5 } from './etag.ts';
import type { LeanPut, LeanS3 } from './lean-s3.ts';
import { partSizeFor, thresholdFor, type TransferOptions } from './job.ts';
import type { Pool } from './pool.ts';
import { withRetry } from './retry.ts';

export interface Side {
  readonly client: S3Client;
  /** The lean request path for this side's client, where it applies (lib/core/lean-s3.ts). */
  readonly lean?: LeanS3;
  readonly bucket: string;
  readonly prefix: string;
}

export interface TransferContext {
  readonly source: Side;
  readonly destination: Side;
  /** Source and destination share a service and credentials: S3 copies the bytes itself. */
  readonly serverSide: boolean;
  /** The source is an S3-compatible store, not AWS (some of their quirks are worked around). */
  readonly compatibleStore?: boolean;
  readonly options: TransferOptions;
  readonly pool: Pool;
  /** Every retried request; throttles and resets also slow the pool down. */
  readonly onRetry: (info: ErrorInfo) => void;
  /** Bytes that reached the destination (a part or a whole object). */
  readonly onBytes: (bytes: number) => void;
}

export interface TransferEntry {
  /** Key relative to both prefixes. */
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
  /** The source version to copy (a restore at an instant); absent: the current one. */
  readonly versionId?: string;
}

/**
 * Copies one object with the strategy its size and the two sides call for:
 *
 * | same service | size <= threshold | strategy                                              |
 * |--------------|-------------------|-------------------------------------------------------|
 * | yes          | yes               | CopyObject (metadata, tags and headers copied by S3)  |
 * | yes          | no                | multipart UploadPartCopy, parts in parallel           |
 * | no           | yes               | GET streamed into PUT, MD5 of the bytes checked       |
 * | no           | no                | multipart: ranged GET streamed into each UploadPart   |
 *
 * Every request goes through the shared pool and is retried on transient errors.
 */
export async function transferObject(entry: TransferEntry, given: TransferContext): Promise<void> {
  // radosgw "copies" the `null` version of a key whose newest version is a delete marker into an
  // object it lists but cannot read: off AWS, such versions are read and written instead.
  const ctx = given.serverSide && entry.versionId === 'null' && given.compatibleStore ? { ...given, serverSide: false } : given;
  if (entry.size > thresholdFor(ctx.options, ctx.serverSide)) {
    await copyMultipart(entry, ctx);
  } else if (ctx.serverSide) {
    await copyObject(entry, ctx);
  } else {
    await streamObject(entry, ctx);
  }
}

/** One request through the pool, retried; `bytes`: how much body it holds in memory meanwhile. */
function request<T>(ctx: Pick<TransferContext, 'pool' | 'onRetry'>, op: () => Promise<T>, priority: 'high' | 'normal' = 'normal', bytes = 0): Promise<T> {
  return withRetry(() => ctx.pool.run(op, priority, bytes), ctx.onRetry);
}

/**
 * A CopySource header: bucket, then the key URL-encoded segment by segment (so `//` and `+`
 * survive), then the version if one is meant. A versioned source is written `/bucket/key`, S3's
 * documented form: radosgw reads `bucket/key?versionId=null` as the current version.
 */
export function copySource(bucket: string, key: string, versionId?: string): string {
  const source = `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  return versionId ? `/${source}?versionId=${encodeURIComponent(versionId)}` : source;
}

function requestedStorage(options: TransferOptions) {
  return {
    StorageClass: options.storageClass as StorageClass | undefined,
    ServerSideEncryption: options.sse as ServerSideEncryption | undefined,
    SSEKMSKeyId: options.sseKmsKeyId,
  };
}

async function copyObject(entry: TransferEntry, ctx: TransferContext): Promise<void> {
  const { source, destination } = ctx;
  const params = {
    Bucket: destination.bucket,
    Key: destination.prefix + entry.key,
    CopySource: copySource(source.bucket, source.prefix + entry.key, entry.versionId),
    CopySourceIfMatch: entry.etag,
    ...requestedStorage(ctx.options),
  };
  const lean = destination.lean?.handles(destination.bucket) ? destination.lean : undefined;
  await request<unknown>(ctx, () =>
    lean
      ? lean.copyObject(params)
      : destination.client.send(new CopyObjectCommand({ ...params, MetadataDirective: 'COPY', TaggingDirective: 'COPY' })),
  );
  ctx.onBytes(entry.size);
}

/** The headers a copy keeps, read from a GetObject or HeadObject response. */
function keptHeaders(from: {
  ContentType?: string;
  CacheControl?: string;
  ContentDisposition?: string;
  ContentEncoding?: string;
  ContentLanguage?: string;
  Expires?: Date;
  Metadata?: Record<string, string>;
  WebsiteRedirectLocation?: string;
}) {
  return {
    ContentType: from.ContentType,
    CacheControl: from.CacheControl,
    ContentDisposition: from.ContentDisposition,
    ContentEncoding: from.ContentEncoding,
    ContentLanguage: from.ContentLanguage,
    Expires: from.Expires,
    Metadata: from.Metadata,
    WebsiteRedirectLocation: from.WebsiteRedirectLocation,
  };
}

async function sourceTagging(entry: TransferEntry, ctx: TransferContext, tagCount?: number): Promise<string | undefined> {
  if (tagCount === 0) return undefined;
  const { source } = ctx;
  const out = await request(ctx, () =>
    source.client.send(new GetObjectTaggingCommand({ Bucket: source.bucket, Key: source.prefix + entry.key, VersionId: entry.versionId })),
  );
  const tags = out.TagSet ?? [];
  if (tags.length === 0) return undefined;
  return new URLSearchParams(tags.map((t): [string, string] => [t.Key ?? '', t.Value ?? ''])).toString();
}

/** Counts and MD5-hashes the bytes of a GET's body on their way into a PUT. */
interface Measured {
  readonly stream: Transform;
  /** Aborts the PUT when the GET fails: a PUT still waiting for its declared length would hang. */
  readonly signal: AbortSignal;
  md5(): string;
  bytes(): number;
  /** The GET's failure, if it failed: what the PUT's rejection should be reported (and retried) as. */
  failure(): Error | undefined;
  release(): void;
}

function measuring(body: Readable): Measured {
  const hash = createHash('md5');
  const abort = new AbortController();
  let failed: Error | undefined;
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  // A GET cut short fails the PUT that reads this stream; the PUT's rejection is what gets
  // retried, so the stream's own error event needs no other listener.
  stream.on('error', () => {});
  body.on('error', (err) => {
    failed ??= err;
    stream.destroy(err);
    abort.abort(err);
  });
  body.pipe(stream);
  let digest: string | undefined;
  return {
    stream,
    signal: abort.signal,
    failure: () => failed,
    md5: () => (digest ??= hash.digest('hex')),
    bytes: () => bytes,
    // Frees the GET's connection whether or not the PUT read it all.
    release: () => {
      body.destroy();
      stream.destroy();
    },
  };
}

function checkArrived(what: string, expectedBytes: number, m: ReturnType<typeof measuring>, etag: string | undefined, kms: boolean) {
  if (m.bytes() !== expectedBytes) {
    throw new IntegrityError('SizeMismatch', `${what}: read ${m.bytes()} bytes, expected ${expectedBytes}`);
  }
  const md5 = plainMd5(etag);
  if (!kms && md5 !== undefined && md5 !== m.md5()) {
    throw new IntegrityError('ChecksumMismatch', `${what}: destination ETag ${md5} is not the MD5 of the bytes sent (${m.md5()})`);
  }
}

async function streamObject(entry: TransferEntry, ctx: TransferContext): Promise<void> {
  const { source, destination } = ctx;
  const sourceKey = source.prefix + entry.key;
  await request(ctx, async () => {
    const got = await source.client.send(new GetObjectCommand({ Bucket: source.bucket, Key: sourceKey, VersionId: entry.versionId, IfMatch: entry.etag }));
    const m = measuring(got.Body as Readable);
    try {
      const tagging = got.TagCount ? await sourceTagging(entry, ctx, got.TagCount) : undefined;
      const put = await destination.client.send(
        new PutObjectCommand({
          Bucket: destination.bucket,
          Key: destination.prefix + entry.key,
          Body: m.stream,
          ContentLength: entry.size,
          Tagging: tagging,
          ...keptHeaders(got),
          ...requestedStorage(ctx.options),
        }),
        { abortSignal: m.signal },
      );
      checkArrived(sourceKey, entry.size, m, put.ETag, ctx.options.sse === 'aws:kms');
    } catch (err) {
      throw m.failure() ?? err;
    } finally {
      m.release();
    }
  });
  ctx.onBytes(entry.size);
}

async function copyMultipart(entry: TransferEntry, ctx: TransferContext): Promise<void> {
  const { source, destination } = ctx;
  const sourceKey = source.prefix + entry.key;
  const destKey = destination.prefix + entry.key;
  // A one-byte GET, not a HEAD: it also says whether the object has tags (x-amz-tagging-count),
  // so GetObjectTagging is only called for objects that have some.
  const head = await request(ctx, async () => {
    const got = await source.client.send(
      new GetObjectCommand({ Bucket: source.bucket, Key: sourceKey, VersionId: entry.versionId, IfMatch: entry.etag, Range: 'bytes=0-0' }),
    );
    await got.Body?.transformToByteArray();
    return got;
  });
  const size = Number(head.ContentRange?.split('/')[1] ?? entry.size);
  const tagging = await sourceTagging(entry, ctx, head.TagCount ?? 0);
  const created = await request(ctx, () =>
    destination.client.send(
      new CreateMultipartUploadCommand({
        Bucket: destination.bucket,
        Key: destKey,
        Tagging: tagging,
        ...keptHeaders(head),
        ...requestedStorage(ctx.options),
      }),
    ),
  );
  const uploadId = created.UploadId as string;
  const partSize = partSizeFor(size, ctx.options, ctx.serverSide);
  const count = Math.max(1, Math.ceil(size / partSize));
  const kms = ctx.options.sse === 'aws:kms';
  try {
    const parts = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const first = i * partSize;
        const last = Math.min(size, first + partSize) - 1;
        const PartNumber = i + 1;
        const ETag = ctx.serverSide
          ? await copyPart(ctx, copySource(source.bucket, sourceKey, entry.versionId), destKey, uploadId, PartNumber, first, last, entry.etag)
          : await request(
              ctx,
              async () => {
                const got = await source.client.send(
                  new GetObjectCommand({ Bucket: source.bucket, Key: sourceKey, VersionId: entry.versionId, Range: `bytes=${first}-${last}`, IfMatch: entry.etag }),
                );
                return uploadPart(destination, destKey, uploadId, PartNumber, got.Body as Readable, last - first + 1, `${sourceKey} part ${PartNumber}`, kms);
              },
              'high',
            );
        ctx.onBytes(last - first + 1);
        return { ETag, PartNumber };
      }),
    );
    await request(ctx, () =>
      destination.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: destination.bucket,
          Key: destKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  } catch (err) {
    await destination.client
      .send(new AbortMultipartUploadCommand({ Bucket: destination.bucket, Key: destKey, UploadId: uploadId }))
      .catch(() => {}); // the lifecycle rule on incomplete uploads is the backstop
    throw err;
  }
  // Complete's ETag is not comparable (and some stores return none): the size is.
  const landed = await request(ctx, () =>
    destination.client.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: destKey })),
  );
  if (landed.ContentLength !== size) {
    throw new IntegrityError('SizeMismatch', `${destKey}: destination has ${landed.ContentLength} bytes, source ${size}`);
  }
}

/** Streams `body` into one part, checking its length and MD5 against what the service stored. */
async function uploadPart(
  destination: Side,
  Key: string,
  UploadId: string,
  PartNumber: number,
  body: Readable,
  length: number,
  what: string,
  kms: boolean,
): Promise<string | undefined> {
  const m = measuring(body);
  try {
    const out = await destination.client.send(
      new UploadPartCommand({ Bucket: destination.bucket, Key, UploadId, PartNumber, Body: m.stream, ContentLength: length }),
      { abortSignal: m.signal },
    );
    checkArrived(what, length, m, out.ETag, kms);
    return out.ETag;
  } catch (err) {
    throw m.failure() ?? err;
  } finally {
    m.release();
  }
}

function copyPart(
  ctx: TransferContext,
  source: string,
  destKey: string,
  uploadId: string,
  PartNumber: number,
  first: number,
  last: number,
  etag: string | undefined,
): Promise<string | undefined> {
  const { destination } = ctx;
  return request(
    ctx,
    async () => {
      const out = await destination.client.send(
        new UploadPartCopyCommand({
          Bucket: destination.bucket,
          Key: destKey,
          UploadId: uploadId,
          PartNumber,
          CopySource: source,
          CopySourceRange: `bytes=${first}-${last}`,
          CopySourceIfMatch: etag,
        }),
      );
      return out.CopyPartResult?.ETag;
    },
    'high',
  );
}

/** The code and message a failed object is reported with. */
export function failureOf(err: unknown): { code: string; message: string } {
  if (err instanceof IntegrityError) return { code: err.code, message: err.message };
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { code: 'Vanished', message: 'the file was deleted before it was read' };
  const info = classify(err);
  if (info.code === 'PreconditionFailed' || info.code === 'Http412') {
    return { code: 'SourceChanged', message: 'the source object changed after it was listed; rerun to copy it' };
  }
  return { code: info.code, message: info.message };
}

/** A local file to upload (from lib/core/walk.ts). */
export interface UploadEntry {
  readonly key: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
}

/** Files up to this size are read whole (lean PUT); larger ones are streamed. */
const SMALL_FILE = 1024 * 1024;

/** The file changed while ferry read it: retried, and reported if it keeps changing. */
export class FileChangedError extends Error {
  override name = 'FileChanged';
}

const CONTENT_TYPES: Record<string, string> = {
  txt: 'text/plain',
  csv: 'text/csv',
  html: 'text/html',
  htm: 'text/html',
  css: 'text/css',
  js: 'text/javascript',
  mjs: 'text/javascript',
  json: 'application/json',
  xml: 'application/xml',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  zst: 'application/zstd',
  parquet: 'application/vnd.apache.parquet',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  mp4: 'video/mp4',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  npy: 'application/octet-stream',
};

/** Content type from the file name's extension; application/octet-stream when unknown. */
export function contentTypeOf(key: string): string {
  const dot = key.lastIndexOf('.');
  const ext = dot > key.lastIndexOf('/') ? key.slice(dot + 1).toLowerCase() : '';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/** File times and mode as object metadata: `mtime` in Unix seconds (as rclone writes it), `mode` in octal. */
export function fileMetadata(entry: Pick<UploadEntry, 'mtimeMs' | 'mode'>): Record<string, string> {
  return { mtime: (entry.mtimeMs / 1000).toFixed(3), mode: entry.mode.toString(8) };
}

/** The file as it is now (it may have changed since the walk); a vanished file's ENOENT is thrown. */
async function current(entry: UploadEntry): Promise<UploadEntry> {
  const now = await stat(entry.path);
  return { ...entry, size: now.size, mtimeMs: now.mtimeMs, mode: now.mode & 0o7777 };
}

async function assertUnchanged(read: UploadEntry): Promise<void> {
  const now = await stat(read.path).catch(() => undefined);
  if (!now || now.size !== read.size || now.mtimeMs !== read.mtimeMs) {
    throw new FileChangedError(`${read.path} changed while it was read`);
  }
}

/** Uploads one file: a single PUT up to the threshold, parallel parts above it; MD5 of every byte checked. */
export async function uploadFile(entry: UploadEntry, ctx: Omit<TransferContext, 'source' | 'serverSide'>): Promise<void> {
  const { destination } = ctx;
  const Key = destination.prefix + entry.key;
  const headers = (read: UploadEntry) => ({ ContentType: contentTypeOf(entry.key), Metadata: fileMetadata(read), ...requestedStorage(ctx.options) });
  const kms = ctx.options.sse === 'aws:kms';
  const lean = destination.lean?.handles(destination.bucket) ? destination.lean : undefined;
  if (lean && entry.size <= SMALL_FILE) {
    // Small files are read whole and sent on the lean path: no stream per file, and the service
    // checks the body against its Content-MD5.
    const sendWhole = async () => {
      const read = await current(entry);
      const body = await readFile(entry.path);
      if (body.length !== read.size) throw new FileChangedError(`${entry.path} changed while it was read`);
      const put = await lean.putObject({ Bucket: destination.bucket, Key, Body: body, ...headers(read) } as LeanPut);
      await assertUnchanged(read);
      const md5 = plainMd5(put.ETag);
      const expected = createHash('md5').update(body).digest('hex');
      if (!kms && md5 !== undefined && md5 !== expected) {
        throw new IntegrityError('ChecksumMismatch', `${entry.path}: destination ETag ${md5} is not the MD5 of the bytes sent (${expected})`);
      }
      return read.size;
    };
    // The file's bytes are in memory while it is sent: the pool counts them against its cap.
    const sent = await request(ctx, sendWhole, 'normal', entry.size);
    ctx.onBytes(sent);
    return;
  }
  if (entry.size <= thresholdFor(ctx.options, false)) {
    // Each attempt reads the file as it is then, and checks it did not change while it was sent.
    const sent = await request(ctx, async () => {
      const read = await current(entry);
      const m = measuring(createReadStream(entry.path));
      try {
        const put = await destination.client.send(
          new PutObjectCommand({ Bucket: destination.bucket, Key, Body: m.stream, ContentLength: read.size, ...headers(read) }),
          { abortSignal: m.signal },
        );
        await assertUnchanged(read);
        checkArrived(entry.path, read.size, m, put.ETag, kms);
        return read.size;
      } catch (err) {
        await assertUnchanged(read);
        throw m.failure() ?? err;
      } finally {
        m.release();
      }
    });
    ctx.onBytes(sent);
    return;
  }
  // A file that changes during a multipart upload is caught before Complete, and uploaded again
  // (each request inside has its own retries; this loop is for FileChanged only).
  let read = entry;
  for (let attempt = 1; ; attempt++) {
    try {
      read = await current(entry);
      await uploadParts(read);
      break;
    } catch (err) {
      if (!(err instanceof FileChangedError) || attempt >= 5) throw err;
      ctx.onRetry(classify(err));
    }
  }
  const landed = await request(ctx, () => destination.client.send(new HeadObjectCommand({ Bucket: destination.bucket, Key })));
  if (landed.ContentLength !== read.size) {
    throw new IntegrityError('SizeMismatch', `${Key}: destination has ${landed.ContentLength} bytes, the file ${read.size}`);
  }

  async function uploadParts(entry: UploadEntry): Promise<void> {
    const created = await request(ctx, () =>
      destination.client.send(new CreateMultipartUploadCommand({ Bucket: destination.bucket, Key, ...headers(entry) })),
    );
    const uploadId = created.UploadId as string;
    const partSize = partSizeFor(entry.size, ctx.options, false);
    const count = Math.ceil(entry.size / partSize);
    try {
      const parts = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const first = i * partSize;
          const last = Math.min(entry.size, first + partSize) - 1;
          const PartNumber = i + 1;
          const ETag = await request(
            ctx,
            () => {
              const body = createReadStream(entry.path, { start: first, end: last });
              return uploadPart(destination, Key, uploadId, PartNumber, body, last - first + 1, `${entry.path} part ${PartNumber}`, kms);
            },
            'high',
          );
          ctx.onBytes(last - first + 1);
          return { ETag, PartNumber };
        }),
      );
      await assertUnchanged(entry);
      await request(ctx, () =>
        destination.client.send(
          new CompleteMultipartUploadCommand({ Bucket: destination.bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        ),
      );
    } catch (err) {
      await destination.client
        .send(new AbortMultipartUploadCommand({ Bucket: destination.bucket, Key, UploadId: uploadId }))
        .catch(() => {});
      throw err;
    }
  }
}
