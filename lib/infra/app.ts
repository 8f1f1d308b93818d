import { App } from 'aws-cdk-lib';
import { FerryStack, FerryStatefulStack } from './stacks.ts';

/** Lists from context: `-c ferry:sourceBuckets=a,b` or cdk.json. */
function bucketList(app: App, key: string): string[] {
  const value: unknown = app.node.tryGetContext(key);
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  return list.map((b) => String(b).trim()).filter(Boolean);
}

export function buildApp(app = new App()): { app: App; stateful: FerryStatefulStack; stateless: FerryStack } {
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const buckets = { sourceBuckets: bucketList(app, 'ferry:sourceBuckets'), destinationBuckets: bucketList(app, 'ferry:destinationBuckets') };
  const stateful = new FerryStatefulStack(app, 'FerryJobs', { env, ...buckets });
  const schedules = app.node.tryGetContext('ferry:schedules');
  const stateless = new FerryStack(app, 'Ferry', {
    env,
    jobBucket: stateful.jobBucket,
    ...buckets,
    assumableRoles: bucketList(app, 'ferry:assumableRoles'),
    inventoryBuckets: bucketList(app, 'ferry:inventoryBuckets'),
    alarmTopic: stateful.alarmTopic,
    work: stateful.work,
    schedules: typeof schedules === 'string' ? JSON.parse(schedules) : (schedules ?? []),
  });
  return { app, stateful, stateless };
}
