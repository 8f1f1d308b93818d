#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The HTTP client under the lean path: N GETs of 4 KB objects, 64 at once, over keep-alive
// connections with node:http, undici's request() and undici's dispatch() (no body stream), alternating, against `ferry serve` in its own
// process; the CPU figure is this process's alone (the client's).
//   node bench/http-client.ts [objects] [rounds]
import http from 'node:http';
import { Agent } from 'undici';
import { serveSmallObjects } from './common.ts';

const objects = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const { endpoint: origin, stop } = await serveSmallObjects(objects);
try {
  // The embedded endpoint does not check signatures; the same header is sent by both clients.
  const headers = { authorization: 'AWS4-HMAC-SHA256 Credential=local/20261121/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0' };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const dispatcher = new Agent();
  const clients: Record<string, (path: string) => Promise<Buffer>> = {
    'node:http': (path) =>
      new Promise((resolve, reject) => {
        const req = http.request(origin + path, { agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve(Buffer.concat(chunks)));
        });
        req.on('error', reject);
        req.end();
      }),
    undici: async (path) => Buffer.from(await (await dispatcher.request({ origin, path, method: 'GET', headers })).body.arrayBuffer()),
    'undici dispatch': (path) =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        dispatcher.dispatch(
          { origin, path, method: 'GET', headers },
          {
            onRequestStart() {},
            onResponseStart() {},
            onResponseData(_c, chunk: Buffer) {
              chunks.push(chunk);
            },
            onResponseEnd() {
              resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
            },
            onResponseError(_c, err: Error) {
              reject(err);
            },
          },
        );
      }),
  };
  const rows: Record<string, { seconds: number; cpu: number }[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, get] of Object.entries(clients)) {
      let i = 0;
      const started = performance.now();
      const cpu = process.cpuUsage();
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (i < objects) {
            const n = i++;
            if ((await get(`/small/d${n % 100}/f${n}`)).length !== 4096) throw new Error(`${name}: a short body`);
          }
        }),
      );
      const used = process.cpuUsage(cpu);
      (rows[name] ??= []).push({ seconds: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 });
    }
  }
  process.stdout.write(`\n${objects} GETs of 4 KB, 64 at once, ${rounds} rounds\n| client | wall s (each run) | CPU s (each run) | CPU us a request (median) |\n|---|---|---|---|\n`);
  for (const [name, runs] of Object.entries(rows)) {
    const cpus = runs.map((r) => r.cpu).sort((a, b) => a - b);
    const median = cpus[Math.floor(cpus.length / 2)]!;
    process.stdout.write(
      `| ${name} | ${runs.map((r) => r.seconds.toFixed(2)).join(', ')} | ${runs.map((r) => r.cpu.toFixed(2)).join(', ')} | ${((median / objects) * 1e6).toFixed(0)} |\n`,
    );
  }
} finally {
  stop();
}
process.exit(0);
