import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { FUNCTION_MEMORY_MB } from '../core/job.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface FerryFunctionProps {
  /** The folder under lambdas/ whose handler.ts this function runs. */
  readonly handler: 'plan' | 'copy' | 'delete' | 'thaw' | 'report' | 'start';
  readonly environment: Record<string, string>;
  /** @default Duration.minutes(15) */
  readonly timeout?: Duration;
  /** 1,769 MB is one full vCPU: the SDK's request handling is CPU-bound. @default 1769 */
  readonly memorySize?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/** Every ferry Lambda: Node 22 on ARM64, bundled by the local esbuild, traced, with its own log group. */
export class FerryFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: FerryFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: path.join(ROOT, 'lambdas', props.handler, 'handler.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: path.join(ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? FUNCTION_MEMORY_MB,
      timeout: props.timeout ?? Duration.minutes(15),
      tracing: Tracing.ACTIVE,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        target: 'node22',
        // The SDK in the Lambda runtime may lag; ferry ships the versions it was tested with.
        externalModules: [],
      },
    });
  }
}
