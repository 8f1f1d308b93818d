// The embedded S3 + SQS endpoint (fauxqs, in memory), bound to loopback only: fauxqs's own
// start-up function listens on every interface, so ferry builds its app and listens itself.
import { buildApp } from 'fauxqs';

export interface EmbeddedServer {
  /** e.g. http://127.0.0.1:4566 */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startEmbedded(options: { port?: number; host?: string } = {}): Promise<EmbeddedServer> {
  const app = buildApp({ logger: false });
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
