// A local Step Functions API for `--engine aws`: the calls ferry's aws engine makes
// (StartExecution, DescribeExecution, ListMapRuns, DescribeMapRun), in the service's JSON 1.0
// protocol, each execution run by the local engine with the Lambdas' cores over an S3 job store on
// the embedded endpoint. It lets a user (and the tests) drive the cloud path of the CLI without AWS.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type EndpointConfig, s3Client } from '../core/clients.ts';
import { loadJob } from '../core/job.ts';
import { S3JobStore } from '../core/jobstore.ts';
import { noProgress } from '../core/progress.ts';
import { runLocal } from './run-copy.ts';
import { embeddedClient } from './server.ts';

export const LOCAL_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:ferry-copy';
/** Restores run on their own state machine in the cloud; here both run what the job is (runLocal picks). */
export const LOCAL_RESTORE_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:ferry-restore';

interface Execution {
  executionArn: string;
  name: string;
  input: string;
  startDate: number;
  stopDate?: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  output?: string;
  error?: string;
  cause?: string;
}

export interface StepFunctionsEndpoint {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startStepFunctionsEndpoint(options: {
  /** The embedded S3 endpoint holding the job bucket and the data. */
  s3Endpoint: string;
  jobBucket: string;
  port?: number;
}): Promise<StepFunctionsEndpoint> {
  // The Lambdas reach S3 through their role; here, through the embedded endpoint, which takes any
  // credentials (the server process need not have any).
  const embedded = embeddedClient(options.s3Endpoint);
  const s3 = (config: EndpointConfig) => (config.endpoint || config.profile ? s3Client(config) : embedded);
  const store = new S3JobStore(embedded, options.jobBucket);
  const executions = new Map<string, Execution>();

  const operations: Record<string, (body: Record<string, string>) => unknown> = {
    StartExecution: (body) => {
      const machine = body.stateMachineArn ?? '';
      if (machine !== LOCAL_STATE_MACHINE_ARN && machine !== LOCAL_RESTORE_STATE_MACHINE_ARN) throw apiError('StateMachineDoesNotExist', `no state machine ${machine}`);
      const name = body.name ?? crypto.randomUUID();
      const executionArn = `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
      if (executions.has(executionArn)) throw apiError('ExecutionAlreadyExists', `execution ${name} exists`);
      const execution: Execution = { executionArn, name, input: body.input ?? '{}', startDate: Date.now(), status: 'RUNNING' };
      executions.set(executionArn, execution);
      const input = JSON.parse(execution.input) as { jobId: string };
      loadJob(store, input.jobId)
        .then((job) => runLocal(job, { store, progress: { ...noProgress, planningDone: false }, invocationMs: 900_000, s3 }))
        .then(
          (out) => Object.assign(execution, { status: 'SUCCEEDED', output: JSON.stringify(out) }),
          (err: Error) => Object.assign(execution, { status: 'FAILED', error: err.name, cause: err.message }),
        )
        .finally(() => {
          execution.stopDate = Date.now();
        });
      return { executionArn, startDate: execution.startDate / 1000 };
    },
    DescribeExecution: (body) => {
      const e = executions.get(body.executionArn ?? '');
      if (!e) throw apiError('ExecutionDoesNotExist', `no execution ${body.executionArn}`);
      return {
        executionArn: e.executionArn,
        stateMachineArn: e.executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, ''),
        name: e.name,
        status: e.status,
        input: e.input,
        startDate: e.startDate / 1000,
        ...(e.stopDate && { stopDate: e.stopDate / 1000 }),
        ...(e.output !== undefined && { output: e.output }),
        ...(e.error !== undefined && { error: e.error, cause: e.cause }),
      };
    },
    // Map Runs are not modelled: the aws engine shows no per-manifest progress against this endpoint.
    ListMapRuns: () => ({ mapRuns: [] }),
  };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = operations[target.replace(/^AWSStepFunctions\./, '')];
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(body));
      };
      try {
        if (!operation) throw apiError('UnknownOperationException', `${target} is not served here`);
        reply(200, operation(raw ? JSON.parse(raw) : {}));
      } catch (err) {
        const e = err as Error;
        reply(400, { __type: e.name, message: e.message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function apiError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}
