import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { classify, JobStoreError, TransientError } from './errors.ts';

/**
 * A job's home: `job.json`, `manifests/`, `checkpoints/`, `results/`, `report.json`, `failures.csv`.
 * In the cloud an S3 prefix in the stack's job bucket; locally a directory. Keys are relative to
 * the store's root, e.g. `<jobId>/manifests/00000001.jsonl`.
 */
export interface JobStore {
  /** The bucket a Distributed Map's ItemReader and ResultWriter name for this store. */
  readonly bucket: string;
  /** The full object key (or relative path) of `key`, as ItemReader and ResultWriter see it. */
  locate(key: string): string;
  /** The store-relative key of a full key that `locate` made (what ItemReader and ResultWriter name). */
  unlocate(fullKey: string): string;
  get(key: string): Promise<string | undefined>;
  put(key: string, body: string): Promise<void>;
  /** The lines of a text object, streamed (memory holds a chunk, not the object). */
  lines(key: string): AsyncIterable<string>;
}

/** The text at `key`; a missing key is a JobStoreError. */
export async function getText(store: JobStore, key: string): Promise<string> {
  const text = await store.get(key);
  if (text === undefined) throw new JobStoreError(`job store has no ${key}`);
  return text;
}

export async function getJson<T>(store: JobStore, key: string): Promise<T> {
  return JSON.parse(await getText(store, key)) as T;
}

/** A local directory; writes are atomic (temporary file, then rename). */
export class DirectoryJobStore implements JobStore {
  /** The name the local engine's Distributed Map adapter resolves to this directory. */
  readonly bucket = 'ferry-local-job-store';
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  locate(key: string): string {
    return key;
  }

  unlocate(fullKey: string): string {
    return fullKey;
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.#path(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(key: string, body: string): Promise<void> {
    const file = this.#path(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, file);
  }

  lines(key: string): AsyncIterable<string> {
    return readLines(createReadStream(this.#path(key)));
  }

  #path(key: string): string {
    const file = path.resolve(this.root, key);
    if (!file.startsWith(this.root + path.sep) && file !== this.root) throw new JobStoreError(`bad job store key ${key}`);
    return file;
  }
}

/** A prefix in an S3 bucket (the stack's job bucket). */
export class S3JobStore implements JobStore {
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #prefix: string;

  constructor(client: S3Client, bucket: string, prefix = 'jobs/') {
    this.#client = client;
    this.bucket = bucket;
    this.#prefix = prefix;
  }

  locate(key: string): string {
    return this.#prefix + key;
  }

  unlocate(fullKey: string): string {
    if (!fullKey.startsWith(this.#prefix)) throw new JobStoreError(`${fullKey} is outside the job store ${this.#prefix}`);
    return fullKey.slice(this.#prefix.length);
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.locate(key) }));
      return await out.Body?.transformToString('utf8');
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') return undefined;
      throw storeError(err);
    }
  }

  async put(key: string, body: string): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.locate(key), Body: body, ContentType: contentType(key) }),
      );
    } catch (err) {
      throw storeError(err);
    }
  }

  async *lines(key: string): AsyncIterable<string> {
    let body: Readable;
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.locate(key) }));
      body = out.Body as Readable;
    } catch (err) {
      throw storeError(err);
    }
    yield* readLines(body);
  }
}

/**
 * The lines of a stream, read a chunk at a time as they are consumed: unlike readline's iterator,
 * nothing is read ahead, so many streams merged at once hold a chunk each.
 */
export async function* readLines(stream: Readable): AsyncGenerator<string> {
  let carry = '';
  stream.setEncoding('utf8'); // characters split across chunks are joined
  for await (const chunk of stream) {
    const text = carry + (chunk as string);
    const lines = text.split('\n');
    carry = lines.pop() as string;
    yield* lines;
  }
  if (carry !== '') yield carry;
}

function contentType(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.jsonl')) return 'application/x-ndjson';
  if (key.endsWith('.csv')) return 'text/csv';
  return 'application/octet-stream';
}

function storeError(err: unknown): Error {
  const info = classify(err);
  const wrapped = info.transient
    ? new TransientError(`job store: ${info.code}: ${info.message}`)
    : new JobStoreError(`job store: ${info.code}: ${info.message}`);
  wrapped.cause = err;
  return wrapped;
}
