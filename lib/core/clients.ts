import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { fromIni, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BadInputError } from './errors.ts';
import { idleTimeoutMs } from './lean-s3.ts';

/** Where and as whom to reach S3. Empty fields fall back to the standard AWS environment. */
export interface EndpointConfig {
  readonly endpoint?: string;
  readonly profile?: string;
  readonly region?: string;
  /**
   * A role to assume for this side (another account's, typically), with the ExternalId its trust
   * policy asks for. Unlike a profile it is kept in the job, so the cloud's Lambdas assume it too.
   */
  readonly roleArn?: string;
  readonly externalId?: string;
}

const clients = new Map<string, S3Client>();

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Keep-alive sockets, more than any pool limit: the pool, not the agent, bounds concurrency. */
const AGENT_OPTIONS = Object.freeze({ keepAlive: true, maxSockets: 1024, keepAliveMsecs: 10_000 });

// socketTimeout, not requestTimeout: the SDK's requestTimeout bounds a whole request (a large part
// on a slow link may rightly take longer) and by default only logs a warning when it passes.
function keepAliveHandler(socketTimeout: number): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new http.Agent(AGENT_OPTIONS),
    httpsAgent: new https.Agent(AGENT_OPTIONS),
    connectionTimeout: 10_000,
    socketTimeout,
  });
}

/**
 * One S3 client per endpoint + profile + region, created once and reused, over keep-alive
 * connections. The SDK's own retries are off: ferry retries each operation itself so that it can
 * count retries and slow its pool down on throttling (lib/core/retry.ts).
 */
/** The S3 endpoint a config reaches: its own, else the standard environment's; undefined is AWS. */
export function s3Endpoint(config: EndpointConfig): string | undefined {
  return config.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
}

/** What tells one S3 service and identity from another: one client (and one set of download workers) each. */
export function s3Identity(config: EndpointConfig): string {
  return JSON.stringify([s3Endpoint(config), config.profile, config.region, config.roleArn, config.externalId]);
}

export function s3Client(config: EndpointConfig): S3Client {
  const endpoint = s3Endpoint(config);
  const id = s3Identity(config);
  let client = clients.get(id);
  if (!client) {
    client = new S3Client({
      endpoint,
      profile: config.profile,
      region: config.region ?? regionFallback(endpoint),
      // S3-compatible stores rarely serve virtual-hosted buckets on custom endpoints.
      forcePathStyle: endpoint !== undefined,
      maxAttempts: 1,
      // The SDK warns on console when a streaming request fails; ferry retries it and counts it.
      logger: silent,
      // Streaming checksum trailers (aws-chunked) are rejected by several S3-compatible stores;
      // against AWS itself the SDK's defaults stay.
      ...(endpoint !== undefined && {
        requestChecksumCalculation: 'WHEN_REQUIRED' as const,
        responseChecksumValidation: 'WHEN_REQUIRED' as const,
      }),
      requestHandler: keepAliveHandler(idleTimeoutMs()),
      ...(config.roleArn && { credentials: assumedRole(config) }),
    });
    clients.set(id, client);
  }
  return client;
}

/**
 * An SQS client for a queue. AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL apply as usual; otherwise a
 * queue that is not on AWS (a local or compatible server) is reached at its URL's own host.
 */
export function sqsClient(config: Omit<EndpointConfig, 'endpoint'>, queueUrl: string): SQSClient {
  const url = URL.canParse(queueUrl) ? new URL(queueUrl) : undefined;
  if (!url || !/^https?:$/.test(url.protocol)) throw new BadInputError(`--queue ${queueUrl}: not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)`);
  const origin = url.origin;
  const onAws = /\.amazonaws\.com(\.cn)?$/.test(url.hostname);
  const endpoint = process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL ?? (onAws ? undefined : origin);
  return new SQSClient({
    ...(endpoint !== undefined && { endpoint }),
    profile: config.profile,
    region: config.region ?? regionFallback(endpoint),
    logger: silent,
    // A worker's long poll waits up to 10 s for messages.
    requestHandler: keepAliveHandler(Math.max(30_000, idleTimeoutMs())),
  });
}

/** Whether two endpoint configs reach the same service as the same principal: server-side copy works. */
export function sameService(a: EndpointConfig, b: EndpointConfig): boolean {
  return a.endpoint === b.endpoint && a.profile === b.profile && a.region === b.region && a.roleArn === b.roleArn && a.externalId === b.externalId;
}

/**
 * Credentials of an assumed role, refreshed before they expire, from the profile's (or the
 * environment's, or the Lambda's) own. STS is reached as the SDK does (AWS_ENDPOINT_URL_STS applies).
 */
function assumedRole(config: EndpointConfig) {
  return fromTemporaryCredentials({
    params: { RoleArn: config.roleArn!, RoleSessionName: 'ferry', ...(config.externalId && { ExternalId: config.externalId }) },
    ...(config.profile && { masterCredentials: fromIni({ profile: config.profile }) }),
    clientConfig: { region: config.region ?? regionFallback(config.endpoint) ?? 'us-east-1' },
  });
}

// The aws-cli's order: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region (which the SDK
// reads when this returns undefined). A custom endpoint (a local server) needs no real region.
function regionFallback(endpoint: string | undefined): string | undefined {
  const fromEnv = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (fromEnv) return fromEnv;
  return endpoint !== undefined ? 'us-east-1' : undefined;
}
