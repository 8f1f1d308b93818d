// A fault-injecting HTTP proxy between ferry and the endpoint: it answers some requests with
// 503 SlowDown or 500 InternalError, resets some connections, cuts some response bodies in the
// middle, flips a byte of some (a body that arrives whole, and wrong), denies some keys, or reads
// some requests whole and never answers (a stalled service), and counts what it did.
import http from 'node:http';

export type Fault = 'pass' | 'slowdown' | 'internal' | 'reset' | 'cut-body' | 'corrupt' | 'deny' | 'stall';

export interface FaultProxy {
  readonly endpoint: string;
  readonly injected: Record<Exclude<Fault, 'pass'>, number>;
  stop(): Promise<void>;
}

/** `decide` sees each request (method, path with query, headers, and its sequence number among object requests). */
export async function startFaultProxy(
  upstream: string,
  decide: (req: { method: string; url: string; bucketLevel: boolean; headers: http.IncomingHttpHeaders }, n: number) => Fault,
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const injected = { slowdown: 0, internal: 0, reset: 0, 'cut-body': 0, corrupt: 0, deny: 0, stall: 0 };
  let n = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] as string;
    const bucketLevel = path.split('/').filter(Boolean).length <= 1;
    const fault = decide({ method: req.method ?? 'GET', url, bucketLevel, headers: req.headers }, bucketLevel ? -1 : n++);
    if (fault !== 'pass') injected[fault]++;
    const xmlError = (status: number, code: string) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`);
    };
    if (fault === 'slowdown') return xmlError(503, 'SlowDown');
    if (fault === 'internal') return xmlError(500, 'InternalError');
    if (fault === 'deny') return xmlError(403, 'AccessDenied');
    if (fault === 'stall') {
      req.resume(); // the body is taken; no answer ever comes (stop() closes the connection)
      return;
    }
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    const upstreamReq = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: url, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        if (fault === 'cut-body') {
          // Send part of the body (or none, for an empty one), then drop the connection.
          const cut = () => setTimeout(() => res.socket?.destroy(), 5);
          upstreamRes.once('data', (chunk: Buffer) => {
            res.write(chunk.subarray(0, chunk.length >> 1));
            cut();
          });
          upstreamRes.once('end', cut);
          upstreamRes.resume();
          return;
        }
        if (fault === 'corrupt') {
          let flipped = false;
          upstreamRes.on('data', (chunk: Buffer) => {
            if (!flipped && chunk.length > 0) {
              chunk[chunk.length >> 1] ^= 0xff;
              flipped = true;
            }
            res.write(chunk);
          });
          upstreamRes.on('end', () => res.end());
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', () => res.socket?.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    injected,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Faults one attempt of a request at most: its retry goes through. Without this, an unlucky request
 * could draw a fault on all 8 of its attempts (about 1 in 20,000 at these rates, over ~320 requests
 * a run) and the test would fail for want of retries, not for a defect.
 */
export function oncePerRequest(decide: Parameters<typeof startFaultProxy>[1]): Parameters<typeof startFaultProxy>[1] {
  const faulted = new Set<string>();
  return (req, n) => {
    const id = `${req.method} ${req.url}`;
    if (faulted.has(id)) return 'pass';
    const fault = decide(req, n);
    if (fault !== 'pass') faulted.add(id);
    return fault;
  };
}
