import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FerryFunction } from './ferry-function.ts';
import { JobBucket } from './job-bucket.ts';

export const COPY_ASL = fileURLToPath(new URL('../../state-machines/copy.asl.json', import.meta.url));
export const RESTORE_ASL = fileURLToPath(new URL('../../state-machines/restore.asl.json', import.meta.url));

export interface CopyStateMachineProps {
  /** The job store. */
  readonly jobBucket: IBucket;
  /** Buckets ferry may read from (names). Least privilege: nothing else is readable. */
  readonly sourceBuckets: readonly string[];
  /** Buckets ferry may write to (names). */
  readonly destinationBuckets: readonly string[];
  /**
   * Roles (ARNs) a job's side may name for the functions to assume, typically in another account
   * whose trust policy names these functions' roles and an ExternalId. Nothing else is assumable.
   */
  readonly assumableRoles?: readonly string[];
  /** Buckets holding S3 Inventory reports the planner may read (`--from-inventory`). */
  readonly inventoryBuckets?: readonly string[];
  /** @default `${stackName}-copy` (and `${stackName}-restore` for the restore state machine) */
  readonly stateMachineName?: string;
}

/**
 * The copy, sync and restore jobs in the cloud: the planner, copier, deleter, thawer and reporter
 * Lambdas, and two state machines over them with their ARNs substituted: state-machines/copy.asl.json
 * and state-machines/restore.asl.json. Each role is granted only what it uses.
 */
export class CopyStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  readonly restoreStateMachine: StateMachine;
  readonly planner: FerryFunction;
  readonly copier: FerryFunction;
  /** A sync's deletions: the one function that may delete, and only in destination buckets. */
  readonly deleter: FerryFunction;
  /** A restore's archived objects: RestoreObject and HEAD on source objects, nothing else. */
  readonly thawer: FerryFunction;
  readonly reporter: FerryFunction;
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
  readonly inventoryBuckets: readonly string[];
  readonly #jobBucket: IBucket;
  #starter?: FerryFunction;

  constructor(scope: Construct, id: string, props: CopyStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.sourceBuckets = props.sourceBuckets;
    this.destinationBuckets = props.destinationBuckets;
    this.inventoryBuckets = props.inventoryBuckets ?? [];
    this.#jobBucket = props.jobBucket;
    const environment = { FERRY_JOB_BUCKET: props.jobBucket.bucketName, FERRY_JOB_PREFIX: JobBucket.PREFIX };
    this.planner = new FerryFunction(this, 'Planner', { handler: 'plan', environment });
    this.copier = new FerryFunction(this, 'Copier', { handler: 'copy', environment });
    this.deleter = new FerryFunction(this, 'Deleter', { handler: 'delete', environment });
    this.thawer = new FerryFunction(this, 'Thawer', { handler: 'thaw', environment });
    this.reporter = new FerryFunction(this, 'Reporter', { handler: 'report', environment, timeout: Duration.minutes(5) });

    const jobObjects = props.jobBucket.arnForObjects(`${JobBucket.PREFIX}*`);
    for (const fn of [this.planner, this.copier, this.deleter, this.thawer, this.reporter]) {
      fn.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [jobObjects] }));
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [props.jobBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${JobBucket.PREFIX}*`] } },
        }),
      );
    }
    const bucketArns = (names: readonly string[]) => names.map((b) => `arn:${stack.partition}:s3:::${b}`);
    const objectArns = (names: readonly string[]) => names.map((b) => `arn:${stack.partition}:s3:::${b}/*`);
    if (props.sourceBuckets.length) {
      // ListBucketVersions: a restore at an instant lists every version.
      this.planner.addToRolePolicy(new PolicyStatement({ actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: bucketArns(props.sourceBuckets) }));
      // RestoreObject makes a temporary readable copy; the archived object itself is unchanged.
      this.thawer.addToRolePolicy(
        new PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:RestoreObject'], resources: objectArns(props.sourceBuckets) }),
      );
      this.copier.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectVersionTagging'],
          resources: objectArns(props.sourceBuckets),
        }),
      );
    }
    if (props.destinationBuckets.length) {
      // A sync lists the destination beside the source.
      this.planner.addToRolePolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: bucketArns(props.destinationBuckets) }));
      this.deleter.addToRolePolicy(new PolicyStatement({ actions: ['s3:DeleteObject'], resources: objectArns(props.destinationBuckets) }));
      this.copier.addToRolePolicy(
        new PolicyStatement({
          // GetObject: the size of a multipart copy is checked with a HEAD of the result.
          actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload', 's3:GetObject'],
          resources: objectArns(props.destinationBuckets),
        }),
      );
    }

    if (props.inventoryBuckets?.length) {
      this.planner.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: objectArns(props.inventoryBuckets) }));
    }

    if (props.assumableRoles?.length) {
      for (const fn of [this.planner, this.copier, this.deleter, this.thawer]) {
        fn.addToRolePolicy(new PolicyStatement({ actions: ['sts:AssumeRole'], resources: [...props.assumableRoles] }));
      }
    }

    const name = props.stateMachineName ?? `${stack.stackName}-copy`;
    this.stateMachine = this.#machine('StateMachine', name, COPY_ASL, props.jobBucket, {
      PlanFunctionArn: this.planner,
      CopyFunctionArn: this.copier,
      DeleteFunctionArn: this.deleter,
      ReportFunctionArn: this.reporter,
    });
    this.restoreStateMachine = this.#machine('RestoreStateMachine', name.replace(/-copy$/, '') + '-restore', RESTORE_ASL, props.jobBucket, {
      PlanFunctionArn: this.planner,
      CopyFunctionArn: this.copier,
      ThawFunctionArn: this.thawer,
      ReportFunctionArn: this.reporter,
    });
  }

  /** A state machine of `asl` over `functions` (by the substitution names it uses), allowed to run its Distributed Maps. */
  #machine(id: string, name: string, asl: string, jobBucket: IBucket, functions: Record<string, FerryFunction>): StateMachine {
    const stack = Stack.of(this);
    const machine = new StateMachine(this, id, {
      stateMachineName: name,
      // Inline, so the template holds the definition the local engine runs, ARNs substituted by CloudFormation.
      definitionBody: DefinitionBody.fromString(readFileSync(asl, 'utf8')),
      definitionSubstitutions: Object.fromEntries(Object.entries(functions).map(([k, fn]) => [k, fn.functionArn])),
      tracingEnabled: true,
      logs: {
        destination: new LogGroup(this, `${id}Logs`, { retention: RetentionDays.ONE_MONTH }),
        level: LogLevel.ERROR,
        includeExecutionData: false,
      },
    });
    const role = machine.role;
    for (const fn of Object.values(functions)) fn.grantInvoke(role);
    // The Distributed Map runs child executions of this state machine.
    const ownArn = stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const executions = stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${name}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [ownArn] }));
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [executions] }));
    // ItemReader reads the manifest index; ResultWriter writes the map run's results.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [jobBucket.arnForObjects(`${JobBucket.PREFIX}*`)],
      }),
    );
    return machine;
  }

  /**
   * The function schedules invoke (made with the first ScheduledJob): it writes a run's job and
   * starts an execution, or records a skip while the schedule's previous run still goes.
   */
  starter(): FerryFunction {
    if (this.#starter) return this.#starter;
    const stack = Stack.of(this);
    const fn = new FerryFunction(this, 'Starter', {
      handler: 'start',
      environment: {
        FERRY_JOB_BUCKET: this.#jobBucket.bucketName,
        FERRY_JOB_PREFIX: JobBucket.PREFIX,
        FERRY_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
        FERRY_RESTORE_STATE_MACHINE_ARN: this.restoreStateMachine.stateMachineArn,
      },
      timeout: Duration.minutes(1),
    });
    fn.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [this.#jobBucket.arnForObjects(`${JobBucket.PREFIX}*`)] }));
    const machines = [this.stateMachine, this.restoreStateMachine];
    fn.addToRolePolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: machines.map((m) => m.stateMachineArn) }));
    const executions = machines.map((m) =>
      stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${m.stateMachineName}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    );
    fn.addToRolePolicy(new PolicyStatement({ actions: ['states:DescribeExecution'], resources: executions }));
    this.#starter = fn;
    return fn;
  }
}
