// A stand-in for S3's archive behaviour, which no server here has: an HTTP layer in front of
// radosgw that treats GLACIER and DEEP_ARCHIVE objects as S3 documents them. Reading one (GET, or
// as the source of a CopyObject or UploadPartCopy) fails with 403 InvalidObjectState until a
// RestoreObject and `thawMs` have passed; HEAD carries x-amz-restore (ongoing-request "true", then
// "false" with an expiry date); a second RestoreObject while thawing is 409
// RestoreAlreadyInProgress, and 200 once thawed. Everything else passes through untouched.
import http from 'node:http';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface ThawProxy {
  readonly endpoint: string;
  /** RestoreObject requests received, by `bucket/key?versionId`. */
  readonly restoreRequests: Map<string, number>;
  /** Reads refused because the object was archived. */
  refusedReads: number;
  stop(): Promise<void>;
}

const ARCHIVED = new Set(['GLACIER', 'DEEP_ARCHIVE']);

function text(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve(body));
  });
}

/** `upstream` is reached with `client` (radosgw's own credentials) to learn an object's storage class. */
export async function startThawProxy(upstream: string, client: S3Client, thawMs: number): Promise<ThawProxy> {
  const target = new URL(upstream);
  const thawedAt = new Map<string, number>();
  const restoreRequests = new Map<string, number>();
  const proxy: ThawProxy = { endpoint: '', restoreRequests, refusedReads: 0, stop: async () => {} };

  // An object named as `/bucket/key` with an optional versionId (none: the current version).
  const objectOf = (pathname: string, versionId: string | null) => {
    const [bucket, ...rest] = pathname.replace(/^\//, '').split('/');
    return { bucket: bucket!, key: rest.map(decodeURIComponent).join('/'), versionId: versionId ?? undefined };
  };
  // The object's storage class, and the version meant (the current one when none is named).
  const storageClass = async (o: { bucket: string; key: string; versionId?: string }) => {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key, VersionId: o.versionId }));
      o.versionId = head.VersionId ?? o.versionId;
      return head.StorageClass ?? 'STANDARD';
    } catch {
      return 'STANDARD'; // missing: let the upstream answer
    }
  };
  const id = (o: { bucket: string; key: string; versionId?: string }) => `${o.bucket}/${o.key}?${o.versionId ?? ''}`;
  const state = (o: { bucket: string; key: string; versionId?: string }) => {
    const at = thawedAt.get(id(o));
    return at === undefined ? 'archived' : Date.now() >= at ? 'thawed' : 'thawing';
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const isObject = url.pathname.split('/').filter(Boolean).length >= 2;
    const xmlError = (status: number, code: string, message: string) => {
      if (!req.readableEnded) req.resume();
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };
    try {
      if (isObject && req.method === 'POST' && url.searchParams.has('restore')) {
        const o = objectOf(url.pathname, url.searchParams.get('versionId'));
        const archived = ARCHIVED.has(await storageClass(o));
        restoreRequests.set(id(o), (restoreRequests.get(id(o)) ?? 0) + 1);
        if (!archived) {
          return xmlError(403, 'InvalidObjectState', "Restore is not allowed for the object's current storage class");
        }
        // As S3 documents: Deep Archive offers no Expedited retrieval.
        const tier = /<Tier>(\w+)<\/Tier>/.exec(await text(req))?.[1];
        if (tier === 'Expedited' && (await storageClass(o)) === 'DEEP_ARCHIVE') {
          return xmlError(400, 'InvalidArgument', 'Expedited retrieval is not supported for the DEEP_ARCHIVE storage class');
        }
        const s = state(o);
        if (s === 'thawing') return xmlError(409, 'RestoreAlreadyInProgress', 'Object restore is already in progress');
        if (s === 'archived') thawedAt.set(id(o), Date.now() + thawMs);
        res.writeHead(s === 'thawed' ? 200 : 202);
        return res.end();
      }
      // What this request reads: the object itself (GET), or a copy's source.
      const copySource = req.headers['x-amz-copy-source'] as string | undefined;
      let read: ReturnType<typeof objectOf> | undefined;
      if (isObject && req.method === 'GET') read = objectOf(url.pathname, url.searchParams.get('versionId'));
      if (req.method === 'PUT' && copySource) {
        const [sourcePath, query] = copySource.replace(/^\//, '').split('?');
        read = objectOf(`/${sourcePath}`, new URLSearchParams(query ?? '').get('versionId'));
      }
      if (read && ARCHIVED.has(await storageClass(read)) && state(read) !== 'thawed') {
        proxy.refusedReads++;
        return xmlError(403, 'InvalidObjectState', 'The operation is not valid for the object\'s storage class');
      }
      const head = isObject && req.method === 'HEAD' ? objectOf(url.pathname, url.searchParams.get('versionId')) : undefined;
      const upstreamReq = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (upstreamRes) => {
          const headers = { ...upstreamRes.headers };
          if (head && ARCHIVED.has(String(headers['x-amz-storage-class']))) {
            const s = state({ ...head, versionId: (headers['x-amz-version-id'] as string | undefined) ?? head.versionId });
            if (s === 'thawing') headers['x-amz-restore'] = 'ongoing-request="true"';
            if (s === 'thawed') headers['x-amz-restore'] = `ongoing-request="false", expiry-date="${new Date(Date.now() + 86_400_000).toUTCString()}"`;
          }
          res.writeHead(upstreamRes.statusCode ?? 502, headers);
          upstreamRes.pipe(res);
        },
      );
      upstreamReq.on('error', () => res.socket?.destroy());
      req.pipe(upstreamReq);
    } catch (err) {
      xmlError(500, 'InternalError', String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
