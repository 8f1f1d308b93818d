// A source listing read from an S3 Inventory report (CSV) instead of ListObjectsV2: for buckets too
// large to list quickly. An inventory's files are not in key order, so they are sorted first, in
// runs of bounded size kept in the job store, then merged into one stream in S3's order (UTF-8
// bytes), which the planner consumes as it would a listing.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { BadInputError } from './errors.ts';
import type { CopyJob } from './job.ts';
import { getJson, type JobStore, readLines } from './jobstore.ts';
import { compareKeys } from './keys.ts';
import type { ListedObject } from './listing.ts';
import { withRetry } from './retry.ts';

/** manifest.json, as S3 Inventory writes it beside the report's files. */
export interface InventoryManifest {
  readonly sourceBucket: string;
  /** arn:aws:s3:::bucket: where the files are. */
  readonly destinationBucket: string;
  readonly fileFormat: string;
  readonly fileSchema: string;
  readonly creationTimestamp?: string;
  readonly files: readonly { readonly key: string; readonly size?: number; readonly MD5checksum?: string }[];
}

/** Keys per sorted run: about 100 bytes each in memory while a run is sorted. */
export const RUN_ROWS = 200_000;

const REPORT_FOLDER = /^\d{4}-\d\d-\d\dT\d\d-\d\dZ\/$/;

/**
 * The manifest.json an --from-inventory address means: itself, or for an inventory configuration's
 * folder (s3://bucket/[prefix/]source-bucket/config-id/) the newest report's that has one (a
 * report still being written has none yet). Scheduled jobs name the folder: each run takes the newest.
 */
export async function resolveInventory(client: S3Client, url: string): Promise<string> {
  const at = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!at || !(url.endsWith('/manifest.json') || url.endsWith('/'))) {
    throw new BadInputError(`--from-inventory: the s3:// address of an inventory's manifest.json, or of its configuration's folder (ending in /), not "${url}"`);
  }
  if (url.endsWith('/manifest.json')) return url;
  const [bucket, prefix] = [at[1] as string, at[2] as string];
  const folders: string[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await withRetry(() => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token })), () => {});
      for (const p of page.CommonPrefixes ?? []) if (REPORT_FOLDER.test((p.Prefix ?? '').slice(prefix.length))) folders.push(p.Prefix as string);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (err) {
    throw new BadInputError(`--from-inventory ${url}: cannot list it (${(err as Error).name})`);
  }
  for (const folder of folders.sort().reverse()) {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${folder}manifest.json`, MaxKeys: 1 }));
    if (listed.Contents?.some((o) => o.Key === `${folder}manifest.json`)) return `s3://${bucket}/${folder}manifest.json`;
  }
  throw new BadInputError(`--from-inventory: no inventory report with a manifest.json under ${url}`);
}

/** Reads and checks an inventory's manifest.json; bad or unusable ones are a BadInputError. */
export async function readInventoryManifest(client: S3Client, url: string, sourceBucket: string): Promise<InventoryManifest> {
  const at = /^s3:\/\/([^/]+)\/(.+\/)?manifest\.json$/.exec(url);
  if (!at) throw new BadInputError(`--from-inventory: the s3:// address of an inventory's manifest.json, not "${url}"`);
  const [bucket, key] = [at[1] as string, url.slice(`s3://${at[1]}/`.length)];
  let text: string;
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await out.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    throw new BadInputError(`--from-inventory ${url}: cannot read it (${(err as Error).name})`);
  }
  let manifest: InventoryManifest;
  try {
    manifest = JSON.parse(text) as InventoryManifest;
  } catch {
    throw new BadInputError(`--from-inventory ${url}: not JSON`);
  }
  if (manifest.fileFormat !== 'CSV') throw new BadInputError(`--from-inventory: ferry reads CSV inventories; this one is ${manifest.fileFormat}`);
  const columns = schema(manifest);
  if (!columns.includes('Key') || !columns.includes('Size')) throw new BadInputError('--from-inventory: the inventory has no Key or no Size field');
  if (manifest.sourceBucket !== sourceBucket) {
    throw new BadInputError(`--from-inventory: that inventory lists s3://${manifest.sourceBucket}, not s3://${sourceBucket}`);
  }
  if (!Array.isArray(manifest.files)) throw new BadInputError(`--from-inventory ${url}: no files listed`);
  return manifest;
}

function schema(manifest: InventoryManifest): string[] {
  return (manifest.fileSchema ?? '').split(',').map((f) => f.trim());
}

/** The bucket an inventory's files are in (its destination, an ARN). */
function filesBucket(manifest: InventoryManifest): string {
  return manifest.destinationBucket.replace(/^arn:aws[a-z-]*:s3:::/, '');
}

/** One CSV record: fields quoted, "" an escaped quote (S3 Inventory quotes every field). */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new Error('unterminated quoted field');
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
    } else {
      const comma = line.indexOf(',', i);
      fields.push(line.slice(i, comma < 0 ? line.length : comma));
      i = comma < 0 ? line.length : comma;
    }
    if (line[i] !== ',') break;
    i++;
  }
  return fields;
}

/** Keys in a CSV inventory are URL-encoded (a space may be "+"; a "+" is always "%2B"). */
export function decodeInventoryKey(encoded: string): string {
  return decodeURIComponent(encoded.replaceAll('+', ' '));
}

/**
 * The current objects one inventory file lists under the job's source prefix (keys relative to it),
 * in the file's order. Rows of older versions and delete markers (an inventory of all versions)
 * are passed over. The file's MD5 is checked once it is read: a mismatch throws.
 */
async function* fileRows(client: S3Client, manifest: InventoryManifest, file: InventoryManifest['files'][number], prefix: string): AsyncGenerator<ListedObject> {
  const columns = schema(manifest);
  const at = (name: string) => columns.indexOf(name);
  // No ETag is taken: a listing's ETag pins each copy to what was listed (If-Match), and an
  // inventory is hours old: objects changed since are copied as they are now, not failed.
  const [key, size, modified, storageClass, isLatest, isDeleteMarker] = ['Key', 'Size', 'LastModifiedDate', 'StorageClass', 'IsLatest', 'IsDeleteMarker'].map(at) as number[];
  const out = await withRetry(() => client.send(new GetObjectCommand({ Bucket: filesBucket(manifest), Key: file.key })), () => {});
  const body = out.Body as Readable;
  const md5 = createHash('md5');
  body.on('data', (chunk: Buffer) => md5.update(chunk));
  const lines = readLines(body.pipe(createGunzip()));
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let row: string[];
    let objectKey: string;
    try {
      row = parseCsvLine(line);
      objectKey = decodeInventoryKey(row[key as number] ?? '');
    } catch (err) {
      throw new BadInputError(`inventory file ${file.key}, line ${n}: ${(err as Error).message}`);
    }
    if (isLatest! >= 0 && row[isLatest!] === 'false') continue;
    if (isDeleteMarker! >= 0 && row[isDeleteMarker!] === 'true') continue;
    if (!objectKey.startsWith(prefix)) continue;
    const sizeValue = Number(row[size as number]);
    if (!Number.isSafeInteger(sizeValue) || sizeValue < 0) throw new BadInputError(`inventory file ${file.key}, line ${n}: size "${row[size as number]}"`);
    yield {
      key: objectKey.slice(prefix.length),
      size: sizeValue,
      ...(modified! >= 0 && row[modified!] && { lastModified: new Date(row[modified!] as string) }),
      ...(storageClass! >= 0 && row[storageClass!] && { storageClass: row[storageClass!] }),
    };
  }
  if (file.MD5checksum && md5.digest('hex') !== file.MD5checksum) {
    throw new BadInputError(`inventory file ${file.key}: its MD5 is not the manifest's (${file.MD5checksum}): the inventory is damaged or was replaced`);
  }
}

/** How far sorting has gone: the report (its manifest.json), the files read (in its order) and the runs written. */
interface SortState {
  readonly manifest: string;
  readonly files: number;
  readonly runs: number;
  readonly rows: number;
}

const stateKey = (jobId: string) => `${jobId}/inventory/sorted.json`;
const runKey = (jobId: string, n: number) => `${jobId}/inventory/run-${String(n).padStart(6, '0')}.jsonl`;

/**
 * Sorts the inventory's rows into runs in the job store, file by file, each file checkpointed once
 * its runs are written and its MD5 checked. Returns false when time ran out first (call again).
 */
export async function sortInventory(
  job: CopyJob & { inventory: string },
  store: JobStore,
  client: S3Client,
  timeLeft: () => boolean,
  runRows = RUN_ROWS,
): Promise<{ done: boolean; manifest: string; runs: number; rows: number }> {
  let state: SortState = (await store.get(stateKey(job.jobId)))
    ? await getJson<SortState>(store, stateKey(job.jobId))
    : { manifest: await resolveInventory(client, job.inventory), files: 0, runs: 0, rows: 0 };
  const manifest = await readInventoryManifest(client, state.manifest, job.source.bucket);
  for (let f = state.files; f < manifest.files.length; f++) {
    if (!timeLeft()) return { done: false, ...state };
    let runs = state.runs;
    let rows = state.rows;
    let buffer: ListedObject[] = [];
    const flush = async () => {
      if (buffer.length === 0) return;
      buffer.sort((a, b) => compareKeys(a.key, b.key));
      await store.put(runKey(job.jobId, ++runs), `${buffer.map((o) => JSON.stringify(o)).join('\n')}\n`);
      rows += buffer.length;
      buffer = [];
    };
    for await (const o of fileRows(client, manifest, manifest.files[f]!, job.source.prefix)) {
      buffer.push(o);
      if (buffer.length >= runRows) await flush();
    }
    await flush();
    state = { manifest: state.manifest, files: f + 1, runs, rows };
    await store.put(stateKey(job.jobId), JSON.stringify(state));
  }
  return { done: true, ...state };
}

/** The inventory's objects in S3's order, after `startAfter`: the sorted runs merged. */
export async function* inventoryListing(store: JobStore, jobId: string, startAfter = ''): AsyncGenerator<ListedObject> {
  const { runs } = await getJson<SortState>(store, stateKey(jobId));
  const heads: { object: ListedObject; rest: AsyncIterator<string> }[] = [];
  const next = async (rest: AsyncIterator<string>): Promise<ListedObject | undefined> => {
    for (;;) {
      const line = await rest.next();
      if (line.done) return undefined;
      if (line.value === '') continue;
      const raw = JSON.parse(line.value) as ListedObject & { lastModified?: string };
      const object = raw.lastModified ? { ...raw, lastModified: new Date(raw.lastModified) } : (raw as ListedObject);
      if (startAfter === '' || compareKeys(object.key, startAfter) > 0) return object;
    }
  };
  // A binary heap on the runs' next keys: a thousand runs cost ten comparisons a key, not a thousand.
  const less = (a: number, b: number) => compareKeys(heads[a]!.object.key, heads[b]!.object.key) < 0;
  const swap = (a: number, b: number) => ([heads[a], heads[b]] = [heads[b]!, heads[a]!]);
  const up = (i: number) => {
    while (i > 0 && less(i, (i - 1) >> 1)) {
      swap(i, (i - 1) >> 1);
      i = (i - 1) >> 1;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heads.length && less(l, m)) m = l;
      if (r < heads.length && less(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let n = 1; n <= runs; n++) {
    const rest = store.lines(runKey(jobId, n))[Symbol.asyncIterator]();
    const object = await next(rest);
    if (object) {
      heads.push({ object, rest });
      up(heads.length - 1);
    }
  }
  let previous: string | undefined;
  while (heads.length > 0) {
    const top = heads[0]!;
    // The same key twice (an inventory listing it in two files) is one object.
    if (previous === undefined || top.object.key !== previous) yield top.object;
    previous = top.object.key;
    const following = await next(top.rest);
    if (following) {
      top.object = following;
      down(0);
    } else {
      const last = heads.pop()!;
      if (heads.length > 0) {
        heads[0] = last;
        down(0);
      }
    }
  }
}
