// The embedded S3 + SQS endpoint (fauxqs, in memory), bound to loopback only: fauxqs's own
// start-up function listens on every interface, so ferry builds its app and listens itself.
import { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { compareKeys } from '../core/keys.ts';

export interface EmbeddedServer {
  /** e.g. http://127.0.0.1:4566 */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** An S3 client for an embedded endpoint, for the demo, benchmarks and tests (not ferry's own). */
export function embeddedClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    // The embedded endpoint checks no credentials. A fresh object: the SDK annotates it.
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/**
 * A work queue for fleet mode on an embedded endpoint, made as the CDK app makes it: a dead-letter
 * queue behind it after `maxReceiveCount` receives. Returns the queue's URL.
 */
export async function createWorkQueue(endpoint: string, name: string, options: { visibilitySeconds?: number; maxReceiveCount?: number } = {}): Promise<string> {
  const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const arn = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }));
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilitySeconds ?? 300),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn.Attributes?.QueueArn, maxReceiveCount: options.maxReceiveCount ?? 5 }),
      },
    }),
  );
  sqs.destroy();
  return queue.QueueUrl as string;
}

export async function startEmbedded(options: { port?: number; host?: string } = {}): Promise<EmbeddedServer> {
  await listInS3Order();
  const app = buildApp({ logger: false, stores: await storesWithPlainQueueUrls() });
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : Number(options.port);
  return {
    endpoint: `http://${host}:${port}`,
    port,
    stop: async () => {
      await app.close();
    },
  };
}

/**
 * fauxqs names queues `http://sqs.<region>.localhost:<port>/...`, a host Node's resolver does not
 * know; without its host setting it names them after the host the request came to (127.0.0.1).
 */
async function storesWithPlainQueueUrls() {
  const load = async (file: string) => import(new URL(file, import.meta.resolve('fauxqs')).href);
  const [{ SqsStore }, { SnsStore }, { S3Store }] = await Promise.all([load('./sqs/sqsStore.js'), load('./sns/snsStore.js'), load('./s3/s3Store.js')]);
  const sqsStore = new SqsStore();
  sqsStore.host = '';
  return { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() };
}

interface StoredObject {
  key: string;
}

interface S3StoreLike {
  buckets: Map<string, Map<string, StoredObject>>;
  listObjects(bucket: string, options?: ListOptions): ListResult;
}

interface ListOptions {
  prefix?: string;
  delimiter?: string;
  maxKeys?: number;
  startAfter?: string;
  marker?: string;
}

interface ListResult {
  objects: StoredObject[];
  commonPrefixes: string[];
  isTruncated: boolean;
}

let patched = false;

/**
 * fauxqs sorts a listing with localeCompare but skips to StartAfter by UTF-16 comparison, so
 * unicode keys come out of S3's order (UTF-8 bytes) and a listing resumed from a key skips some;
 * and it sorts the whole bucket for every page, so listing a bucket cost the square of its keys.
 * Its store is not exported; this replaces its listObjects with one in S3's order that keeps each
 * bucket's sorted keys until a key is added or removed, and starts each page by binary search
 * (package.json pins fauxqs to the version this was written against).
 */
async function listInS3Order(): Promise<void> {
  if (patched) return;
  const storeUrl = new URL('./s3/s3Store.js', import.meta.resolve('fauxqs'));
  const { S3Store } = (await import(storeUrl.href)) as { S3Store: { prototype: S3StoreLike } };
  const original = S3Store.prototype.listObjects;
  S3Store.prototype.listObjects = function listObjects(this: S3StoreLike, bucket: string, options?: ListOptions) {
    const objects = this.buckets.get(bucket);
    if (!objects) return original.call(this, bucket, options); // its NoSuchBucket error
    const prefix = options?.prefix ?? '';
    const delimiter = options?.delimiter;
    const maxKeys = options?.maxKeys ?? 1000;
    const after = options?.startAfter ?? options?.marker ?? '';
    const keys = keysInOrder(objects);
    // The first key after `after` that is not below the prefix; those with the prefix follow it together.
    let low = 0;
    for (let high = keys.length; low < high; ) {
      const mid = (low + high) >>> 1;
      if (compareKeys(keys[mid]!, after) > 0 && compareKeys(keys[mid]!, prefix) >= 0) high = mid;
      else low = mid + 1;
    }
    const result: StoredObject[] = [];
    const commonPrefixes = new Set<string>();
    let isTruncated = false;
    for (let i = low; i < keys.length && keys[i]!.startsWith(prefix); i++) {
      const o = objects.get(keys[i]!)!;
      const cut = delimiter ? o.key.indexOf(delimiter, prefix.length) : -1;
      const common = cut >= 0 ? o.key.slice(0, cut + (delimiter as string).length) : undefined;
      if (common !== undefined && (commonPrefixes.has(common) || (after !== '' && compareKeys(common, after) <= 0))) continue;
      if (result.length + commonPrefixes.size >= maxKeys) {
        isTruncated = true;
        break;
      }
      if (common !== undefined) commonPrefixes.add(common);
      else result.push(o);
    }
    return { objects: result, commonPrefixes: [...commonPrefixes].sort(compareKeys), isTruncated };
  };
  patched = true;
}

/** Each bucket's keys in S3's order, dropped when its map gains or loses a key (an overwrite keeps the order). */
const sortedKeys = new WeakMap<Map<string, StoredObject>, string[]>();
const watched = new WeakSet<Map<string, StoredObject>>();

function keysInOrder(objects: Map<string, StoredObject>): string[] {
  let keys = sortedKeys.get(objects);
  if (!keys) {
    watchKeys(objects);
    keys = [...objects.keys()].sort(compareKeys);
    sortedKeys.set(objects, keys);
  }
  return keys;
}

/** fauxqs adds and removes a bucket's objects only through its map's set and delete. */
function watchKeys(objects: Map<string, StoredObject>): void {
  if (watched.has(objects)) return;
  watched.add(objects);
  objects.set = function set(key, value) {
    if (!this.has(key)) sortedKeys.delete(this);
    return Map.prototype.set.call(this, key, value) as typeof objects;
  };
  objects.delete = function remove(key) {
    sortedKeys.delete(this);
    return Map.prototype.delete.call(this, key);
  };
}
