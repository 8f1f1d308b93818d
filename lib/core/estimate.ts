// What a job will cost and how long it will take, from its plan: the S3 requests of each kind,
// Lambda invocations and GB-seconds, Step Functions transitions, SQS requests and data transfer,
// priced from one table; and beside it what DataSync and S3 Batch Operations would charge.
import { FUNCTION_MEMORY_MB, partSizeFor, thresholdFor, type TransferOptions } from './job.ts';

/**
 * List prices, US East (N. Virginia), read 2026-11-21. S3 requests ($0.005 per 1,000 PUT, COPY,
 * POST and LIST; $0.0004 per 1,000 GET and HEAD; DELETE free) and Step Functions Standard ($0.025
 * per 1,000 transitions): as used by ferry's thaw table. Lambda on Arm: $0.0000133334 per GB-second,
 * $0.20 per million requests (AWS's pricing page and two write-ups agree). SQS standard: $0.40 per
 * million requests, each 64 KiB of a message one request. Transfer: $0.02/GB to another region,
 * $0.09/GB to the internet (first 10 TB), nothing in. DataSync Enhanced mode: $0.55 per task
 * execution and $0.015 per GB (AWS's price list, as published for US East (Ohio) and GovCloud);
 * Basic mode $0.0125 per GB. Batch Operations: $0.25 per job (write-ups of AWS's page); its $1.00 per
 * million objects could not be confirmed from a page here.
 */
export const PRICES = {
  read: '2026-11-21',
  region: 'us-east-1',
  s3: { writesPer1000: 0.005, readsPer1000: 0.0004 },
  transfer: { betweenRegionsPerGB: 0.02, toInternetPerGB: 0.09 },
  lambda: { perGBSecond: 0.0000133334, perMillionRequests: 0.2 },
  stepFunctions: { per1000Transitions: 0.025 },
  sqs: { perMillionRequests: 0.4 },
  dataSync: { perTaskExecution: 0.55, enhancedPerGB: 0.015, basicPerGB: 0.0125 },
  batchOperations: { perJob: 0.25, perMillionObjects: 1 },
} as const;

/**
 * What the duration rests on. Not measured here (no AWS from this machine): a small request's round
 * trip inside a region, one stream's rate, what one copier (a Lambda, or this host) can move, how
 * long a listing page takes; and S3's documented 3,500 writes a second per prefix.
 */
export const ASSUMED = {
  requestSeconds: 0.05,
  streamBytesPerSecond: 50e6,
  copierBytesPerSecond: 125e6,
  listPageSeconds: 0.2,
  writesPerSecondPerPrefix: 3500,
} as const;

/** Copiers at once: the Copy Map's MaxConcurrency in state-machines/copy.asl.json. */
export const COPIERS_AT_ONCE = 100;
/** Key ranges the planner lists at once. */
const RANGES_AT_ONCE = 8;
/** A Lambda returns (and is called again) before its 15 minutes are up. */
const INVOCATION_SECONDS = 14 * 60;
/** Fleet workers extend a message's visibility every third of the queue's 5 minutes. */
const HEARTBEAT_SECONDS = 100;
/** Batch Operations' Copy copies objects up to 5 GB. */
const BATCH_COPY_MAX = 5 * 1024 ** 3;

/**
 * How objects move. server-side: CopyObject and UploadPartCopy within one service; streamed: GET
 * into PUT between two services; push: files to S3; pull: objects to files.
 */
export type Route = 'server-side' | 'streamed' | 'push' | 'pull';

export const REQUEST_KINDS = [
  'LIST',
  'CopyObject',
  'PutObject',
  'CreateMultipartUpload',
  'UploadPartCopy',
  'UploadPart',
  'CompleteMultipartUpload',
  'GET',
  'HEAD',
  'DeleteObjects',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type Requests = Record<RequestKind, number>;

const READS: readonly RequestKind[] = ['GET', 'HEAD'];
const FREE: readonly RequestKind[] = ['DeleteObjects'];

export function noRequests(): Requests {
  return Object.fromEntries(REQUEST_KINDS.map((k) => [k, 0])) as Requests;
}

export function requestDollars(r: Requests): number {
  let dollars = 0;
  for (const kind of REQUEST_KINDS) {
    if (FREE.includes(kind)) continue;
    dollars += (r[kind] / 1000) * (READS.includes(kind) ? PRICES.s3.readsPer1000 : PRICES.s3.writesPer1000);
  }
  return dollars;
}

/**
 * The requests one object takes and the seconds it holds a pool slot for, as lib/core/transfer.ts
 * and lib/core/pull.ts send them (objects without tags; a tagged large object adds a GetObjectTagging).
 */
export function objectRequests(size: number, route: Route, transfer: TransferOptions, into: Requests): number {
  const { requestSeconds, streamBytesPerSecond } = ASSUMED;
  const serverSide = route === 'server-side';
  if (route === 'pull') {
    into.GET++;
    return requestSeconds + size / streamBytesPerSecond;
  }
  if (size <= thresholdFor(transfer, serverSide)) {
    if (serverSide) into.CopyObject++;
    else into.PutObject++;
    if (route === 'streamed') into.GET++;
    return (route === 'streamed' ? 2 : 1) * requestSeconds + size / streamBytesPerSecond;
  }
  const parts = Math.max(1, Math.ceil(size / partSizeFor(size, transfer, serverSide)));
  into.CreateMultipartUpload++;
  into.CompleteMultipartUpload++;
  into.HEAD++; // the size of what landed
  if (serverSide) into.UploadPartCopy += parts;
  else into.UploadPart += parts;
  if (route !== 'push') into.GET += 1 + (route === 'streamed' ? parts : 0); // a one-byte GET for the headers, then the ranges
  const requests = 3 + parts * (route === 'streamed' ? 2 : 1) + (route === 'push' ? 0 : 1);
  return requests * requestSeconds + size / streamBytesPerSecond;
}

export interface ObjectToCopy {
  readonly k: string;
  readonly s: number;
}

/** Past this many, first-level prefixes are not counted further (S3 scales far sooner). */
const MAX_PREFIXES = 10_000;

/** What a plan found, for an estimate. */
export interface EstimateInput {
  readonly route: Route;
  /** The cloud (a Step Functions execution and Lambdas) or one process here. */
  readonly engine: 'aws' | 'local';
  /** Each manifest's objects: key and size. */
  readonly manifests: Iterable<readonly ObjectToCopy[]> | AsyncIterable<readonly ObjectToCopy[]>;
  /** Keys in each listing: the source's (unless a directory), the destination's (a sync's, unless a directory). */
  readonly listed: readonly number[];
  readonly ranges: number;
  readonly deletes: number;
  /** Both buckets' regions, when S3 told them. */
  readonly regions?: { readonly source?: string; readonly destination?: string };
  readonly transfer: TransferOptions;
}

export interface Estimate {
  readonly prices: { readonly read: string; readonly region: string };
  readonly objects: number;
  readonly bytes: number;
  readonly requests: Requests;
  readonly requestDollars: number;
  /** Job-store requests in the cloud: manifests, results, the index, the report (about). */
  readonly jobStore: { readonly writes: number; readonly reads: number; readonly dollars: number };
  readonly transfer: { readonly gb: number; readonly kind: 'none' | 'between regions' | 'to the internet' | 'in'; readonly dollars: number };
  readonly lambda?: { readonly invocations: number; readonly gbSeconds: number; readonly memoryMB: number; readonly dollars: number };
  readonly stepFunctions?: { readonly transitions: number; readonly dollars: number };
  /** A push run as a fleet (ferry scan, ferry work) sends its manifests through SQS. */
  readonly sqs?: { readonly requests: number; readonly dollars: number };
  readonly dollars: number;
  readonly seconds: number;
  readonly copiers: number;
  readonly requestsInFlight: number;
  readonly dataSync?: { readonly mode: 'Enhanced' | 'Basic'; readonly fee: number; readonly requestDollars: number; readonly transferDollars: number; readonly dollars: number };
  readonly batchOperations?: { readonly fee: number; readonly requestDollars: number; readonly dollars: number; readonly tooLarge: number };
}

export async function estimate(input: EstimateInput): Promise<Estimate> {
  const { route, transfer } = input;
  const cloud = input.engine === 'aws' && (route === 'server-side' || route === 'streamed');
  const inFlight = transfer.concurrency || 64;
  const requests = noRequests();
  // A page per 1,000 keys of each listing (an empty one takes one too), and a partial page per extra key range.
  const listPages = input.listed.reduce((n, keys) => n + Math.max(1, Math.ceil(keys / 1000)), 0) + Math.max(0, input.ranges - 1);
  requests.LIST = listPages;
  requests.DeleteObjects = Math.ceil(input.deletes / 1000);

  let objects = 0;
  let bytes = 0;
  let tooLarge = 0;
  let manifests = 0;
  let copierSeconds = 0;
  let copierInvocations = 0;
  let heartbeats = 0;
  // S3 scales writes per prefix; keys without a slash count as one.
  const prefixes = new Set<string>();
  for await (const entries of input.manifests) {
    manifests++;
    let slotSeconds = 0;
    let streamed = 0;
    for (const { k, s: size } of entries) {
      if (prefixes.size < MAX_PREFIXES) prefixes.add(k.includes('/') ? k.slice(0, k.indexOf('/')) : '');
      objects++;
      bytes += size;
      if (size > BATCH_COPY_MAX) tooLarge++;
      slotSeconds += objectRequests(size, route, transfer, requests);
      if (route !== 'server-side') streamed += size;
    }
    // A copier is bound by its pool (requests in flight) or by the bytes it moves itself.
    const seconds = Math.max(slotSeconds / inFlight, streamed / ASSUMED.copierBytesPerSecond);
    copierSeconds += seconds;
    copierInvocations += Math.max(1, Math.ceil(seconds / INVOCATION_SECONDS));
    heartbeats += Math.floor(seconds / HEARTBEAT_SECONDS);
  }
  const gb = bytes / 1024 ** 3;
  const writes = requests.CopyObject + requests.PutObject + requests.CreateMultipartUpload + requests.CompleteMultipartUpload;

  const planSeconds = (listPages * ASSUMED.listPageSeconds) / Math.min(Math.max(1, input.ranges), RANGES_AT_ONCE);
  const deleteSeconds = requests.DeleteObjects * ASSUMED.requestSeconds * 4;
  const reportSeconds = 1 + (manifests * ASSUMED.requestSeconds) / 32;
  const copiers = cloud ? Math.max(1, Math.min(manifests, COPIERS_AT_ONCE)) : 1;
  const prefixBound = writes / (ASSUMED.writesPerSecondPerPrefix * Math.max(1, prefixes.size));
  const seconds = planSeconds + Math.max(copierSeconds / copiers, prefixBound) + deleteSeconds + (cloud ? reportSeconds : 0);

  const regions = input.regions;
  const betweenRegions = route === 'server-side' || route === 'streamed' ? Boolean(regions?.source && regions.destination && regions.source !== regions.destination) : false;
  const transferKind = route === 'pull' ? 'to the internet' : route === 'push' ? 'in' : betweenRegions ? 'between regions' : 'none';
  const perGB = transferKind === 'to the internet' ? PRICES.transfer.toInternetPerGB : transferKind === 'between regions' ? PRICES.transfer.betweenRegionsPerGB : 0;
  const transferOut = { gb, kind: transferKind, dollars: gb * perGB } as const;

  const s3Dollars = requestDollars(requests);
  let dollars = s3Dollars + transferOut.dollars;
  let jobStore = { writes: 0, reads: 0, dollars: 0 };
  let lambda: Estimate['lambda'];
  let stepFunctions: Estimate['stepFunctions'];
  let sqs: Estimate['sqs'];
  if (cloud) {
    // The planner writes each manifest, a copier each result; the reporter reads them; the Map reads the index.
    jobStore = { writes: 2 * manifests + 4, reads: 2 * manifests + 1, dollars: 0 };
    jobStore.dollars = ((jobStore.writes * PRICES.s3.writesPer1000) + (jobStore.reads * PRICES.s3.readsPer1000)) / 1000;
    const planInvocations = Math.max(1, Math.ceil(planSeconds / INVOCATION_SECONDS));
    const deleteInvocations = input.deletes > 0 ? Math.max(1, Math.ceil(deleteSeconds / INVOCATION_SECONDS)) : 0;
    const invocations = planInvocations + copierInvocations + deleteInvocations + 1;
    const gbSeconds = (planSeconds + copierSeconds + deleteSeconds + reportSeconds) * (FUNCTION_MEMORY_MB / 1024);
    lambda = {
      invocations,
      gbSeconds,
      memoryMB: FUNCTION_MEMORY_MB,
      dollars: gbSeconds * PRICES.lambda.perGBSecond + (invocations / 1e6) * PRICES.lambda.perMillionRequests,
    };
    // copy.asl.json: Plan and Planned? per planner call, Copy, Delete?, Delete and Deleted? per deleter
    // call, Report; each manifest's child: CopyManifest and ManifestDone? per call, then ManifestCopied.
    const transitions = 2 * planInvocations + 3 + 2 * deleteInvocations + 2 * copierInvocations + manifests;
    stepFunctions = { transitions, dollars: (transitions / 1000) * PRICES.stepFunctions.per1000Transitions };
    dollars += jobStore.dollars + lambda.dollars + stepFunctions.dollars;
  }
  if (route === 'push') {
    // Per manifest: SendMessage, ReceiveMessage, DeleteMessage, and a visibility heartbeat while it runs.
    const count = 3 * manifests + heartbeats;
    sqs = { requests: count, dollars: (count / 1e6) * PRICES.sqs.perMillionRequests };
    dollars += sqs.dollars;
  }

  return {
    prices: { read: PRICES.read, region: PRICES.region },
    objects,
    bytes,
    requests,
    requestDollars: s3Dollars,
    jobStore,
    transfer: transferOut,
    ...(lambda && { lambda }),
    ...(stepFunctions && { stepFunctions }),
    ...(sqs && { sqs }),
    dollars,
    seconds,
    copiers,
    requestsInFlight: inFlight,
    ...alternatives(route, objects, gb, listPages, tooLarge, transferOut.dollars),
  };
}

/**
 * DataSync (Enhanced between buckets, Basic with an agent for files) and Batch Operations' Copy
 * (between buckets only). Their own S3 requests are at least a LIST per 1,000 keys and a read and a
 * write per object; DataSync's verification and Batch Operations' manifest add more.
 */
function alternatives(route: Route, objects: number, gb: number, listPages: number, tooLarge: number, transferDollars: number): Pick<Estimate, 'dataSync' | 'batchOperations'> {
  const within = route === 'server-side' || route === 'streamed';
  const r = noRequests();
  r.LIST = listPages;
  if (route !== 'push') r.GET = objects;
  if (route !== 'pull') r.PutObject = objects;
  const mode = within ? 'Enhanced' : 'Basic';
  const fee = within ? PRICES.dataSync.perTaskExecution + gb * PRICES.dataSync.enhancedPerGB : gb * PRICES.dataSync.basicPerGB;
  const dataSyncRequests = requestDollars(r);
  const dataSync = { mode, fee, requestDollars: dataSyncRequests, transferDollars, dollars: fee + dataSyncRequests + transferDollars } as const;
  if (!within) return { dataSync };
  const copies = noRequests();
  copies.LIST = listPages;
  copies.CopyObject = objects - tooLarge;
  const batchFee = PRICES.batchOperations.perJob + (objects / 1e6) * PRICES.batchOperations.perMillionObjects;
  const batchOperations = { fee: batchFee, requestDollars: requestDollars(copies), dollars: batchFee + requestDollars(copies) + transferDollars, tooLarge };
  return { dataSync, batchOperations };
}
