// A lean request path for the requests ferry sends millions of times: CopyObject of an object
// below the multipart threshold, and PutObject and GetObject of small files held whole. The SDK spends about half a millisecond of CPU per request in its
// middleware (measured: docs/benchmarks.md), which made ferry CPU-bound on small objects; this
// signs with SigV4 itself and sends over keep-alive sockets for a fraction of that. Credentials and
// region still come from the SDK client (profiles, role_arn, SSO all work; a download worker gets
// them from the main thread); anything unusual
// (FIPS, dual-stack, accelerate, dotted bucket names on AWS) stays on the SDK.
// Errors are shaped like the SDK's (`name` = S3 error code, `$metadata.httpStatusCode`), so retry,
// classification and reports treat both paths alike.
import { createHmac, hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { S3Client } from '@aws-sdk/client-s3';
import { Agent, type Dispatcher } from 'undici';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface LeanCopy {
  Bucket: string;
  Key: string;
  CopySource: string;
  CopySourceIfMatch?: string;
  StorageClass?: string;
  ServerSideEncryption?: string;
  SSEKMSKeyId?: string;
}

export interface LeanPut {
  Bucket: string;
  Key: string;
  Body: Buffer;
  ContentType: string;
  /** ASCII values only (HTTP headers); callers with other values use the SDK. */
  Metadata: Record<string, string>;
  StorageClass?: string;
  ServerSideEncryption?: string;
  SSEKMSKeyId?: string;
}

export interface LeanGot {
  Body: Buffer;
  ETag?: string;
  Metadata: Record<string, string>;
  LastModified?: Date;
  ServerSideEncryption?: string;
  SSECustomerAlgorithm?: string;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Who signs, and for which region: an S3 client's config is one (the SDK resolves and refreshes its credentials). */
interface SigningIdentity {
  credentials(): Promise<Credentials>;
  region(): Promise<string>;
}

/** A lean path as another thread rebuilds it without the SDK (see `LeanS3.shared`). */
export interface SharedPath {
  readonly endpoint?: string;
  readonly region: string;
  readonly credentials: Credentials;
}

/** A thread with shared credentials asks for fresh ones this long before they expire (the SDK refreshes 5 minutes before). */
const SHARED_CREDENTIALS_MARGIN_MS = 60_000;

export interface SignInput {
  method: string;
  host: string;
  /** Already URI-encoded, as sent. */
  path: string;
  /** Query parameters, unencoded; sent as `canonicalQuery` gives them. */
  query?: Record<string, string>;
  headers: Record<string, string>;
  region: string;
  credentials: Credentials;
  date: Date;
}

/** S3's URI encoding of a key: every byte but unreserved characters, '/' kept. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/** A query string as SigV4 canonicalises it: names sorted, names and values URI-encoded. */
export function canonicalQuery(query: Record<string, string> = {}): string {
  const encode = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return Object.keys(query)
    .sort()
    .map((k) => `${encode(k)}=${encode(query[k]!)}`)
    .join('&');
}

const signingKeys = new Map<string, Buffer>();

/** Signature Version 4 (header auth, payload hash in x-amz-content-sha256); returns all headers to send. */
export function signV4(input: SignInput): Record<string, string> {
  const iso = input.date.toISOString(); // 2026-11-21T06:55:12.345Z
  const day = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10);
  const amzDate = `${day}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers)) headers[name.toLowerCase()] = value;
  headers.host = input.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] ??= EMPTY_SHA256;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  let canonicalHeaders = '';
  for (const n of names) canonicalHeaders += `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`;
  const signedHeaders = names.join(';');
  const canonicalRequest = `${input.method}\n${input.path}\n${canonicalQuery(input.query)}\n${canonicalHeaders}\n${signedHeaders}\n${headers['x-amz-content-sha256']}`;
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
  const cacheKey = `${input.credentials.secretAccessKey}\0${scope}`;
  let key = signingKeys.get(cacheKey);
  if (!key) {
    const kDate = createHmac('sha256', `AWS4${input.credentials.secretAccessKey}`).update(day).digest();
    const kRegion = createHmac('sha256', kDate).update(input.region).digest();
    const kService = createHmac('sha256', kRegion).update('s3').digest();
    key = createHmac('sha256', kService).update('aws4_request').digest();
    if (signingKeys.size > 100) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

export interface LeanGet {
  Bucket: string;
  Key: string;
  IfMatch?: string;
  VersionId?: string;
}

/** Receives a streamed body: each piece as it arrives; a promise returned pauses reading until it settles. */
export type BodySink = (chunk: Buffer) => Promise<unknown> | undefined;

interface SendOptions {
  payload?: Buffer;
  query?: Record<string, string>;
  /** Where a successful response's body goes instead of memory. */
  sink?: BodySink;
}

interface Response {
  status: number;
  /** Empty when a sink took it. */
  body: Buffer;
  headers: IncomingHttpHeaders;
}

function getHeaders(p: LeanGet): Record<string, string> {
  return p.IfMatch ? { 'if-match': p.IfMatch } : {};
}

function getQuery(p: LeanGet): Record<string, string> | undefined {
  return p.VersionId ? { versionId: p.VersionId } : undefined;
}

/** What a pull needs of a GetObject response's headers. */
function gotFrom(headers: IncomingHttpHeaders): Omit<LeanGot, 'Body'> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  const modified = headers['last-modified'] as string | undefined;
  return {
    ETag: headers.etag as string | undefined,
    Metadata: metadata,
    LastModified: modified ? new Date(modified) : undefined,
    ServerSideEncryption: headers['x-amz-server-side-encryption'] as string | undefined,
    SSECustomerAlgorithm: headers['x-amz-server-side-encryption-customer-algorithm'] as string | undefined,
  };
}

export class S3RequestError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

const leanPaths = new WeakMap<S3Client, Promise<LeanS3 | undefined>>();

export class LeanS3 {
  readonly #identity: SigningIdentity;
  readonly #endpoint: URL | undefined;
  /** Buckets found in another region than the client's (S3 says so in x-amz-bucket-region). */
  readonly #bucketRegions = new Map<string, string>();

  private constructor(identity: SigningIdentity, endpoint: URL | undefined) {
    this.#identity = identity;
    this.#endpoint = endpoint;
  }

  /**
   * This path as a download worker rebuilds it (`shared`): the endpoint, the region and the current
   * credentials, so that a worker needs no SDK of its own (a quarter of a second to load).
   */
  async share(): Promise<SharedPath> {
    return { endpoint: this.#endpoint?.href, region: await this.#identity.region(), credentials: await this.sharedCredentials() };
  }

  /** The credentials requests are signed with now, as plain data another thread can be sent. */
  async sharedCredentials(): Promise<Credentials> {
    const { accessKeyId, secretAccessKey, sessionToken, expiration } = await this.#identity.credentials();
    return { accessKeyId, secretAccessKey, sessionToken, expiration };
  }

  /**
   * A path rebuilt from `share()` in another thread; `fresh` gets new credentials (from the thread
   * that shared them) when these are about to expire.
   */
  static shared(path: SharedPath, fresh: () => Promise<Credentials>): LeanS3 {
    let current = path.credentials;
    let asking: Promise<Credentials> | undefined;
    const credentials = async (): Promise<Credentials> => {
      if (current.expiration === undefined || current.expiration.getTime() - Date.now() > SHARED_CREDENTIALS_MARGIN_MS) return current;
      asking ??= fresh()
        .then((got) => (current = got))
        .finally(() => (asking = undefined));
      return asking;
    };
    return new LeanS3({ credentials, region: async () => path.region }, path.endpoint === undefined ? undefined : new URL(path.endpoint));
  }

  /** A lean path for `client` when its configuration is one this path handles; otherwise undefined. */
  static for(client: S3Client): Promise<LeanS3 | undefined> {
    let lean = leanPaths.get(client);
    if (!lean) {
      lean = LeanS3.#create(client);
      leanPaths.set(client, lean);
    }
    return lean;
  }

  static async #create(client: S3Client): Promise<LeanS3 | undefined> {
    const c = client.config;
    if (c.useAccelerateEndpoint || (await c.useFipsEndpoint()) || (await c.useDualstackEndpoint())) return undefined;
    const endpoint = c.endpoint ? await c.endpoint() : undefined;
    if (endpoint === undefined) return new LeanS3(c, undefined);
    const port = endpoint.port ? `:${endpoint.port}` : '';
    return new LeanS3(c, new URL(`${endpoint.protocol}//${endpoint.hostname}${port}${endpoint.path}`));
  }

  /** Whether this path can address `bucket` (AWS: virtual-hosted, so DNS-safe names without dots). */
  handles(bucket: string): boolean {
    return this.#endpoint !== undefined || /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket);
  }

  async copyObject(p: LeanCopy): Promise<{ ETag?: string }> {
    const headers: Record<string, string> = {
      'x-amz-copy-source': p.CopySource,
      'x-amz-metadata-directive': 'COPY',
      'x-amz-tagging-directive': 'COPY',
      'content-length': '0',
    };
    if (p.CopySourceIfMatch) headers['x-amz-copy-source-if-match'] = p.CopySourceIfMatch;
    if (p.StorageClass) headers['x-amz-storage-class'] = p.StorageClass;
    if (p.ServerSideEncryption) headers['x-amz-server-side-encryption'] = p.ServerSideEncryption;
    if (p.SSEKMSKeyId) headers['x-amz-server-side-encryption-aws-kms-key-id'] = p.SSEKMSKeyId;
    const text = (await this.#send('PUT', p.Bucket, p.Key, headers)).body.toString('utf8');
    // CopyObject can fail after its 200 status line: the error then arrives in the body.
    if (/<Error>/.test(text)) throw errorFrom(text, 200, 'InternalError');
    const etag = /<ETag>([^<]*)<\/ETag>/.exec(text)?.[1];
    return { ETag: etag === undefined ? undefined : unescapeXml(etag) };
  }

  /**
   * PutObject of a body held in memory, with its SHA-256 signed and its MD5 sent as Content-MD5, so
   * the service refuses a body that is not what was read. Returns the ETag.
   */
  async putObject(p: LeanPut): Promise<{ ETag?: string }> {
    const headers: Record<string, string> = {
      'content-length': String(p.Body.length),
      'content-type': p.ContentType,
      'content-md5': hash('md5', p.Body, 'base64'),
      'x-amz-content-sha256': hash('sha256', p.Body, 'hex'),
    };
    for (const [k, v] of Object.entries(p.Metadata)) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    if (p.StorageClass) headers['x-amz-storage-class'] = p.StorageClass;
    if (p.ServerSideEncryption) headers['x-amz-server-side-encryption'] = p.ServerSideEncryption;
    if (p.SSEKMSKeyId) headers['x-amz-server-side-encryption-aws-kms-key-id'] = p.SSEKMSKeyId;
    const { headers: got } = await this.#send('PUT', p.Bucket, p.Key, headers, { payload: p.Body });
    return { ETag: got.etag as string | undefined };
  }

  /** GetObject of a small object, whole, with the headers a pull needs. */
  async getObject(p: LeanGet): Promise<LeanGot> {
    const { body, headers } = await this.#send('GET', p.Bucket, p.Key, getHeaders(p), { query: getQuery(p) });
    return { Body: body, ...gotFrom(headers) };
  }

  /**
   * GetObject with the body handed to `sink` as it arrives (memory stays flat whatever the size):
   * a promise `sink` returns stops reading from the socket until it settles, so its writes never
   * overlap; one that rejects ends the request with its error.
   */
  async getObjectStreamed(p: LeanGet, sink: BodySink): Promise<Omit<LeanGot, 'Body'>> {
    const { headers } = await this.#send('GET', p.Bucket, p.Key, getHeaders(p), { query: getQuery(p), sink });
    return gotFrom(headers);
  }

  /**
   * A bucket-level GET (a listing) as S3 sent it: the XML keeps the order of its elements, which
   * the SDK's parser loses when it groups them by name (versions apart from delete markers).
   */
  async getBucketXml(bucket: string, query: Record<string, string>): Promise<string> {
    return (await this.#send('GET', bucket, '', {}, { query })).body.toString('utf8');
  }

  async #send(method: string, bucket: string, key: string, extra: Record<string, string>, options: SendOptions = {}, redirected = false): Promise<Response> {
    const { payload, query, sink } = options;
    const credentials = await this.#identity.credentials();
    const region = this.#bucketRegions.get(bucket) ?? (await this.#identity.region());
    let url: URL;
    if (this.#endpoint) {
      const base = this.#endpoint.pathname.replace(/\/$/, '');
      url = new URL(this.#endpoint.href);
      url.pathname = key === '' ? `${base}/${bucket}` : `${base}/${bucket}/${encodeKey(key)}`;
    } else {
      url = new URL(`https://${bucket}.s3.${region}.amazonaws.com/${encodeKey(key)}`);
    }
    url.search = canonicalQuery(query);
    const headers = signV4({ method, host: url.host, path: url.pathname, query, headers: extra, region, credentials, date: new Date() });
    const res = await request(url, method, headers, payload, sink);
    if (res.status >= 200 && res.status < 300) return res;
    const bucketRegion = res.headers['x-amz-bucket-region'] as string | undefined;
    if (!redirected && bucketRegion && bucketRegion !== region && (res.status === 301 || res.status === 400)) {
      this.#bucketRegions.set(bucket, bucketRegion);
      return this.#send(method, bucket, key, extra, options, true);
    }
    throw errorFrom(res.body.toString('utf8'), res.status, `Http${res.status}`);
  }
}

/**
 * The text of the elements `fields` matches in `xml` (a pattern of the form
 * /<(Name|Other)>([^<]*)<\/\1>/g: element text holds no '<', XML escapes it), by name, the first
 * of each, its entities resolved.
 */
export function xmlFields(xml: string, fields: RegExp): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [, name, text] of xml.matchAll(fields)) found[name!] ??= unescapeXml(text!);
  return found;
}

/** An XML element's text as sent, its entities (named and numeric) resolved. */
function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e]!;
  });
}

function errorFrom(body: string, status: number, fallback: string): S3RequestError {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? fallback;
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? `HTTP ${status}`;
  return new S3RequestError(code, message, status);
}

/**
 * How long a request may go without a byte sent or received before it is abandoned (and retried):
 * 60 s, or FERRY_IDLE_TIMEOUT_SECONDS. A stalled service would otherwise hold a transfer forever.
 * Here: the wait for a response's headers, and between its body's chunks (the SDK's too: clients.ts).
 */
export function idleTimeoutMs(): number {
  const seconds = Number(process.env.FERRY_IDLE_TIMEOUT_SECONDS);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000;
}

// undici (Node's own fetch is built on it) rather than node:http, through its dispatch() with a
// handler that gathers the body rather than request()'s body stream: 24 CPU us a request against
// request()'s 34 and node:http's 49 (bench/http-client.ts), and small objects are bound by CPU.
const dispatcher = new Agent({ headersTimeout: idleTimeoutMs(), bodyTimeout: idleTimeoutMs() });

function request(url: URL, method: string, headers: Record<string, string>, body?: Buffer, sink?: BodySink): Promise<Response> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let got: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    dispatcher.dispatch(
      { origin: url.origin, path: url.pathname + url.search, method: method as Dispatcher.HttpMethod, headers, body },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode, responseHeaders) {
          status = statusCode;
          got = responseHeaders as IncomingHttpHeaders;
        },
        onResponseData(controller, chunk) {
          if (!sink || status < 200 || status >= 300) {
            chunks.push(chunk); // an error's body is read whole, for its code
            return;
          }
          const writing = sink(chunk);
          if (!writing) return;
          controller.pause();
          writing.then(
            () => controller.resume(),
            (err: Error) => controller.abort(err),
          );
        },
        onResponseEnd() {
          resolve({ status, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), headers: got });
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      },
    );
  });
}
