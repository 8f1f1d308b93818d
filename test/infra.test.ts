// CDK assertions on the synthesized templates: bucket settings, functions, least-privilege roles,
// and the state machine rendered from the very ASL file the local engine runs.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { COPIERS_AT_ONCE } from '../lib/core/estimate.ts';
import { FUNCTION_MEMORY_MB } from '../lib/core/job.ts';
import { buildApp } from '../lib/infra/app.ts';
import { COPY_ASL, RESTORE_ASL } from '../lib/infra/copy-state-machine.ts';
import { tempDir } from './helpers.ts';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

describe('CDK app', () => {
  let jobs: Template;
  let ferry: Template;
  let outdir: string;

  before(async () => {
    outdir = await tempDir();
    const app = new App({
      outdir,
      context: { 'ferry:sourceBuckets': 'src-a,src-b', 'ferry:destinationBuckets': ['dst-a'] },
    });
    const { stateful, stateless } = buildApp(app);
    jobs = Template.fromStack(stateful);
    ferry = Template.fromStack(stateless);
    app.synth();
  });

  it('job bucket: encrypted, TLS-only, private, job data expiring', () => {
    jobs.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'jobs/', ExpirationInDays: 30, Status: 'Enabled' }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
        ]),
      },
    });
    jobs.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    jobs.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  it('five functions on Node 22, ARM64, traced, with the job bucket in their environment', () => {
    const fns = ferry.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } });
    assert.equal(Object.keys(fns).length, 5);
    for (const fn of Object.values(fns)) {
      const p = fn.Properties;
      assert.deepEqual(p.Architectures, ['arm64']);
      // What `ferry plan --estimate` prices a GB-second of.
      assert.equal(p.MemorySize, FUNCTION_MEMORY_MB);
      assert.deepEqual(p.TracingConfig, { Mode: 'Active' });
      assert.equal(p.Environment.Variables.FERRY_JOB_PREFIX, 'jobs/');
      assert.ok(p.Environment.Variables.FERRY_JOB_BUCKET['Fn::ImportValue'], 'job bucket from the stateful stack');
    }
  });

  it('renders the state machine from state-machines/copy.asl.json with the function ARNs', async () => {
    const machines = ferry.findResources('AWS::StepFunctions::StateMachine');
    const machine = Object.values(machines).find((m) => JSON.stringify(m.Properties.StateMachineName).includes('-copy'));
    assert.ok(machine);
    const file = JSON.parse(await readFile(COPY_ASL, 'utf8'));
    assert.deepEqual(JSON.parse(machine.Properties.DefinitionString), file);
    const subs = machine.Properties.DefinitionSubstitutions;
    for (const [name, id] of [
      ['PlanFunctionArn', 'Planner'],
      ['CopyFunctionArn', 'Copier'],
      ['DeleteFunctionArn', 'Deleter'],
      ['ReportFunctionArn', 'Reporter'],
    ]) {
      assert.match(subs[name as string]['Fn::GetAtt'][0], new RegExp(`^Copy${id}[0-9A-F]{8}$`));
    }
    assert.equal(file.States.Copy.ItemProcessor.ProcessorConfig.Mode, 'DISTRIBUTED');
    // What `ferry plan --estimate` takes the copiers at once to be.
    assert.equal(file.States.Copy.MaxConcurrency, COPIERS_AT_ONCE);
    assert.match(JSON.stringify(machine.Properties.StateMachineName), /-copy/);
  });

  it('renders the restore state machine from state-machines/restore.asl.json beside it, over the same functions and the thawer', async () => {
    const machine = Object.values(ferry.findResources('AWS::StepFunctions::StateMachine')).find((m) =>
      JSON.stringify(m.Properties.StateMachineName).includes('-restore'),
    );
    assert.ok(machine);
    assert.deepEqual(JSON.parse(machine.Properties.DefinitionString), JSON.parse(await readFile(RESTORE_ASL, 'utf8')));
    const subs = machine.Properties.DefinitionSubstitutions;
    assert.deepEqual(Object.keys(subs).sort(), ['CopyFunctionArn', 'PlanFunctionArn', 'ReportFunctionArn', 'ThawFunctionArn']);
    assert.match(subs.ThawFunctionArn['Fn::GetAtt'][0], /^CopyThawer[0-9A-F]{8}$/);
    assert.match(subs.CopyFunctionArn['Fn::GetAtt'][0], /^CopyCopier[0-9A-F]{8}$/);
    // The thawer may HEAD and thaw source objects; it writes nowhere but the job store.
    const thawer = statementsOf('CopyThawerServiceRoleDefaultPolicy');
    const thaw = thawer.find((s) => actions(s).includes('s3:RestoreObject'));
    assert.deepEqual(thaw?.Resource, [
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::src-a/*']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::src-b/*']] },
    ]);
    assert.ok(thawer.every((s) => !actions(s).includes('s3:PutObject') || JSON.stringify(s.Resource).includes('jobs/*')));
    assert.ok(!JSON.stringify(thawer).includes('dst-a'));
    // Only the thawer may thaw; the planner lists versions of the sources.
    const others = Object.entries(ferry.findResources('AWS::IAM::Policy')).filter(([id]) => !id.startsWith('CopyThawer'));
    assert.ok(!JSON.stringify(others).includes('s3:RestoreObject'));
    assert.ok(statementsOf('CopyPlannerServiceRoleDefaultPolicy').some((s) => actions(s).includes('s3:ListBucketVersions') && JSON.stringify(s.Resource).includes('src-a')));
  });

  it('a dashboard of ferry\'s metrics, the functions, the executions and the work queue; alarms sent to one topic', () => {
    const [dashboard] = Object.values(ferry.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);
    for (const metric of ['ObjectsCopied', 'ObjectsFailed', 'BytesCopied', 'Throttles', 'Retries']) assert.ok(body.includes(`\\"ferry\\",\\"${metric}\\"`), metric);
    for (const metric of ['Errors', 'Throttles', 'Duration', 'ExecutionsStarted', 'ExecutionsFailed', 'ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage']) {
      assert.ok(body.includes(metric), metric);
    }
    const alarms = Object.values(ferry.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const failed = alarms.find((a) => a.Namespace === 'ferry');
    assert.deepEqual([failed?.MetricName, failed?.Statistic, failed?.Threshold, failed?.ComparisonOperator], ['ObjectsFailed', 'Sum', 1, 'GreaterThanOrEqualToThreshold']);
    assert.equal(failed?.Dimensions, undefined, 'all jobs together');
    assert.equal(alarms.filter((a) => a.Namespace === 'AWS/States' && a.MetricName === 'ExecutionsFailed').length, 2);
    for (const a of alarms) assert.match(JSON.stringify(a.AlarmActions), /AlarmTopicArn|Fn::ImportValue/);
    // The dead-letter alarm (stateful stack) goes to the same topic, which takes TLS only.
    const dead = Object.values(jobs.findResources('AWS::CloudWatch::Alarm'))[0]!.Properties;
    assert.equal(dead.AlarmActions[0].Ref, Object.keys(jobs.findResources('AWS::SNS::Topic'))[0]);
    assert.match(JSON.stringify(jobs.findResources('AWS::SNS::TopicPolicy')), /aws:SecureTransport/);
  });

  function statementsOf(rolePrefix: string): Statement[] {
    const policies = ferry.findResources('AWS::IAM::Policy');
    return Object.entries(policies)
      .filter(([id]) => id.startsWith(rolePrefix))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
  }
  const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

  it('least privilege: data buckets named, nothing on "*" for S3 or Step Functions', () => {
    const all = Object.values(ferry.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    for (const s of all) {
      if (actions(s).some((a) => a.startsWith('s3:') || a.startsWith('states:') || a.startsWith('lambda:'))) {
        assert.notEqual(s.Resource, '*', JSON.stringify(s));
      }
    }
    const copier = statementsOf('CopyCopierServiceRoleDefaultPolicy');
    const reads = copier.find((s) => actions(s).includes('s3:GetObjectTagging'));
    assert.deepEqual(reads?.Resource, [
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::src-a/*']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::src-b/*']] },
    ]);
    const writes = copier.find((s) => actions(s).includes('s3:PutObject') && JSON.stringify(s.Resource).includes('dst-a'));
    assert.ok(writes);
    assert.ok(!JSON.stringify(writes.Resource).includes('src-'), 'sources are never writable');
    assert.ok(!actions(writes).includes('s3:DeleteObject'));
    const planner = statementsOf('CopyPlannerServiceRoleDefaultPolicy');
    assert.ok(planner.every((s) => !actions(s).includes('s3:PutObject') || JSON.stringify(s.Resource).includes('jobs/*')));
    assert.ok(!planner.some((s) => actions(s).includes('s3:GetObject') && JSON.stringify(s.Resource).includes('src-a')));
    // A sync lists the destination too.
    assert.ok(planner.some((s) => actions(s).includes('s3:ListBucket') && JSON.stringify(s.Resource).includes('dst-a')));
  });

  it('only the deleter may delete, and only objects of the destination buckets', () => {
    const all = Object.entries(ferry.findResources('AWS::IAM::Policy')).flatMap(([id, p]) =>
      (p.Properties.PolicyDocument.Statement as Statement[]).map((s) => ({ id, s })),
    );
    const deletes = all.filter(({ s }) => actions(s).some((a) => a === 's3:DeleteObject' || a === 's3:*' || a === 's3:Delete*'));
    assert.equal(deletes.length, 1, JSON.stringify(deletes));
    const [only] = deletes;
    assert.match(only!.id, /^CopyDeleterServiceRoleDefaultPolicy/);
    assert.deepEqual(actions(only!.s), ['s3:DeleteObject']);
    assert.match(JSON.stringify(only!.s.Resource), /dst-a\/\*/);
    assert.ok(!JSON.stringify(only!.s.Resource).includes('src-'), 'sources are never deletable');
    assert.ok(!JSON.stringify(only!.s.Resource).includes('jobs'), 'nor job data');
  });

  it('the state machine may start its own child executions and read/write only job data', () => {
    const sm = statementsOf('CopyStateMachineRoleDefaultPolicy');
    const start = sm.find((s) => actions(s).includes('states:StartExecution'));
    assert.match(JSON.stringify(start?.Resource), /stateMachine:Ferry-copy/);
    const s3 = sm.find((s) => actions(s).includes('s3:GetObject'));
    assert.match(JSON.stringify(s3?.Resource), /jobs\/\*/);
    const invoke = sm.filter((s) => actions(s).includes('lambda:InvokeFunction'));
    assert.ok(invoke.length >= 1);
  });

  it('work queue: encrypted, TLS-only, dead letters after 5 receives, an alarm on the first dead letter', () => {
    const queues = jobs.findResources('AWS::SQS::Queue');
    assert.equal(Object.keys(queues).length, 2);
    for (const q of Object.values(queues)) assert.equal(q.Properties.SqsManagedSseEnabled, true);
    jobs.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 300,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WorkDeadLetters'), 'Arn'] }, maxReceiveCount: 5 },
    });
    const tlsDenials = Object.values(jobs.findResources('AWS::SQS::QueuePolicy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    assert.equal(tlsDenials.filter((st) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false').length, 2);
    jobs.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WorkDeadLetters'), 'QueueName'] } }],
    });
    const outputs = jobs.findOutputs('*');
    assert.ok(outputs.WorkQueueUrl && outputs.PusherPolicyArn && outputs.JobBucketName);
  });

  it('pusher policy: the queues, job data, and the named buckets; never delete, never "*"', () => {
    const [policy] = Object.values(jobs.findResources('AWS::IAM::ManagedPolicy'));
    assert.ok(policy);
    const statements = policy.Properties.PolicyDocument.Statement as (Statement & { Sid: string })[];
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    assert.deepEqual(Object.keys(bySid).sort(), [
      'CollectDeadLetters', 'FindJobBucket', 'ListDestinations', 'ListSources', 'ReadSources', 'ReadWriteJobs', 'TakeAndSendManifests', 'WriteDestinations',
    ]);
    for (const st of statements) {
      assert.equal(st.Effect, 'Allow');
      assert.notEqual(st.Resource, '*', st.Sid);
      assert.ok(!actions(st).some((a) => a.includes('*') || a.startsWith('s3:Delete')), st.Sid);
    }
    assert.deepEqual(actions(bySid.WriteDestinations as Statement), ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload']);
    assert.match(JSON.stringify(bySid.WriteDestinations?.Resource), /:s3:::dst-a\/\*/);
    assert.ok(!JSON.stringify(bySid.WriteDestinations?.Resource).includes('src-'), 'sources are never writable');
    assert.deepEqual(actions(bySid.ReadSources as Statement), ['s3:GetObject']);
    assert.match(JSON.stringify(bySid.ReadWriteJobs?.Resource), /\/jobs\/\*/);
    assert.ok(!actions(bySid.CollectDeadLetters as Statement).includes('sqs:SendMessage'));
  });

  it('bundles handlers that load on Node 22', async () => {
    const manifest = JSON.parse(await readFile(path.join(outdir, 'Ferry.assets.json'), 'utf8'));
    const assets = Object.values(manifest.files as Record<string, { source: { path: string; packaging?: string } }>).filter(
      (f) => f.source.packaging === 'zip',
    );
    assert.equal(assets.length, 5);
    const require = createRequire(import.meta.url);
    process.env.FERRY_JOB_BUCKET = 'bundle-check';
    for (const asset of assets) {
      const mod = require(path.join(outdir, asset.source.path, 'index.js'));
      assert.equal(typeof mod.handler, 'function');
    }
  });
});

describe('CDK app with a scheduled sync', () => {
  const nightly = {
    name: 'nightly',
    schedule: 'cron(0 2 * * ? *)',
    source: 's3://src-a/data',
    destination: 's3://dst-a/mirror',
    sync: { delete: true, maxDeletePercent: 10 },
    exclude: ['tmp/**'],
  };
  const appWith = (schedules: unknown) =>
    buildApp(
      new App({
        context: { 'ferry:sourceBuckets': 'src-a', 'ferry:destinationBuckets': 'dst-a', 'ferry:inventoryBuckets': 'inv-a', 'ferry:schedules': schedules },
      }),
    );

  it('an EventBridge schedule invokes the starter with the job and the time it fired', () => {
    const ferry = Template.fromStack(appWith([nightly]).stateless);
    const schedules = Object.values(ferry.findResources('AWS::Scheduler::Schedule'));
    assert.equal(schedules.length, 1);
    const props = schedules[0]!.Properties;
    assert.equal(props.ScheduleExpression, 'cron(0 2 * * ? *)');
    assert.deepEqual(props.FlexibleTimeWindow, { Mode: 'OFF' });
    assert.match(JSON.stringify(props.Target.Arn), /CopyStarter/);
    const input = JSON.parse(props.Target.Input);
    assert.equal(input.schedule, 'nightly');
    assert.equal(input.scheduledTime, '<aws.scheduler.scheduled-time>');
    assert.deepEqual(input.job.source, { kind: 's3', bucket: 'src-a', prefix: 'data/' });
    assert.deepEqual(input.job.destination, { kind: 's3', bucket: 'dst-a', prefix: 'mirror/' });
    assert.deepEqual(input.job.sync, { compare: 'time', delete: true, maxDeletePercent: 10, force: false });
    assert.deepEqual(input.job.exclude, ['tmp/**']);
    assert.equal(Object.keys(ferry.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } })).length, 6);

    // The starter starts executions of its state machine and reads their status; it touches no data bucket.
    const starter = Object.entries(ferry.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('CopyStarterServiceRoleDefaultPolicy'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
    const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
    // A restore's schedule starts the restore state machine: the starter may start either, nothing else.
    const start = starter.find((s) => actions(s).includes('states:StartExecution'));
    assert.deepEqual(start?.Resource, Object.keys(ferry.findResources('AWS::StepFunctions::StateMachine')).map((id) => ({ Ref: id })));
    assert.ok(starter.some((s) => actions(s).includes('states:DescribeExecution') && JSON.stringify(s.Resource).includes(':execution:')));
    assert.ok(!JSON.stringify(starter).includes('src-a') && !JSON.stringify(starter).includes('dst-a'), JSON.stringify(starter));
  });

  it('a scheduled restore: its job carries the restore options and readable copies; sync and restore together are refused', () => {
    const nightlyRestore = { name: 'debug-env', schedule: 'cron(0 6 * * ? *)', source: 's3://src-a', destination: 's3://dst-a/debug', restore: { thawTier: 'Standard' } };
    const ferry = Template.fromStack(appWith([nightlyRestore]).stateless);
    const [schedule] = Object.values(ferry.findResources('AWS::Scheduler::Schedule'));
    const input = JSON.parse(schedule!.Properties.Target.Input);
    assert.deepEqual(input.job.restore, { thawTier: 'Standard', thawDays: 7, thawCheckSeconds: 0 });
    assert.equal(input.job.transfer.storageClass, 'STANDARD');
    // The starter is told both machines and starts a restore on the restore one.
    const [starter] = Object.values(ferry.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { FERRY_RESTORE_STATE_MACHINE_ARN: Match.anyValue() } } } }));
    assert.ok(starter);
    assert.throws(() => appWith([{ ...nightlyRestore, sync: {} }]), /sync or restore, not both/);
  });

  it('a scheduled sync from S3 Inventory: the configuration\'s folder in the job (each run reads its newest report); other buckets refused', () => {
    const fromInventory = { ...nightly, inventory: 's3://inv-a/reports/src-a/nightly/' };
    const ferry = Template.fromStack(appWith([fromInventory]).stateless);
    const [schedule] = Object.values(ferry.findResources('AWS::Scheduler::Schedule'));
    assert.equal(JSON.parse(schedule!.Properties.Target.Input).job.inventory, 's3://inv-a/reports/src-a/nightly/');
    assert.throws(() => appWith([{ ...nightly, inventory: 's3://elsewhere/src-a/nightly/' }]), /elsewhere is not among the inventory buckets/);
    assert.throws(() => appWith([{ ...nightly, inventory: 's3://inv-a/src-a/nightly/2026-11-20T00-00Z/manifest.json' }]), /not an inventory configuration's folder/);
  });

  it('inventory buckets: only the planner may read them, and only their objects', () => {
    const ferry = Template.fromStack(
      buildApp(new App({ context: { 'ferry:sourceBuckets': 'src-a', 'ferry:destinationBuckets': 'dst-a', 'ferry:inventoryBuckets': 'inv-reports' } })).stateless,
    );
    const reading = Object.entries(ferry.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => JSON.stringify(p).includes('inv-reports'))
      .map(([id, p]) => {
        const statements = (p.Properties.PolicyDocument.Statement as Statement[]).filter((x) => JSON.stringify(x.Resource).includes('inv-reports'));
        assert.deepEqual(statements.map((x) => x.Action), ['s3:GetObject']);
        assert.match(JSON.stringify(statements[0]!.Resource), /inv-reports\/\*/);
        return id.replace(/ServiceRole.*/, '');
      });
    assert.deepEqual(reading, ['CopyPlanner']);
  });

  it('roles of other accounts: only those listed may be assumed, by the functions that reach the data', () => {
    const role = 'arn:aws:iam::111122223333:role/ferry-read';
    const ferry = Template.fromStack(
      buildApp(new App({ context: { 'ferry:sourceBuckets': 'src-a', 'ferry:destinationBuckets': 'dst-a', 'ferry:assumableRoles': role } })).stateless,
    );
    const assuming = Object.entries(ferry.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => JSON.stringify(p).includes('sts:AssumeRole'))
      .map(([id, p]) => {
        const s = (p.Properties.PolicyDocument.Statement as Statement[]).find((x) => JSON.stringify(x.Action).includes('sts:AssumeRole'))!;
        assert.equal(s.Resource, role);
        return id.replace(/ServiceRole.*/, '');
      });
    assert.deepEqual(assuming.sort(), ['CopyCopier', 'CopyDeleter', 'CopyPlanner', 'CopyThawer']);
    const plain = Template.fromStack(appWith([]).stateless);
    assert.ok(!JSON.stringify(plain.findResources('AWS::IAM::Policy')).includes('sts:AssumeRole'));
  });

  it('no schedule, no starter; a schedule outside the stack buckets or misnamed is refused at synth', () => {
    const plain = Template.fromStack(appWith([]).stateless);
    assert.equal(Object.keys(plain.findResources('AWS::Scheduler::Schedule')).length, 0);
    assert.throws(() => appWith([{ ...nightly, source: 's3://elsewhere/x' }]), /elsewhere is not among the source buckets/);
    assert.throws(() => appWith([{ ...nightly, destination: 's3://other/x' }]), /other is not among the destination buckets/);
    assert.throws(() => appWith([{ ...nightly, name: 'has space' }]), /letters, digits and -/);
  });
});
