import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type MetricName, METRICS_NAMESPACE } from '../core/metrics.ts';
import type { CopyStateMachine } from './copy-state-machine.ts';

export interface FerryDashboardProps {
  readonly copy: CopyStateMachine;
  /** Where the alarms are sent (subscribe to it). */
  readonly topic: ITopic;
  /** The fleet's work queue, and the alarm on its dead letters, when the app has them. */
  readonly workQueue?: IQueue;
  readonly deadLetterAlarm?: Alarm;
}

/**
 * One page for every job: ferry's own figures (objects, bytes, failures, throttles, for all jobs;
 * per job in the ferry namespace by JobId), the functions' errors, throttles and durations, the
 * state machines' executions, the work queue's depth and age; and alarms, sent to one SNS topic,
 * on failed objects, failed executions and dead letters.
 */
export class FerryDashboard extends Construct {
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: FerryDashboardProps) {
    super(scope, id);
    const { copy } = props;
    const ferry = (name: MetricName, label?: string, period = Duration.minutes(1)) =>
      new Metric({ namespace: METRICS_NAMESPACE, metricName: name, statistic: 'Sum', period, ...(label && { label }) });
    const machines: [string, StateMachine][] = [
      ['copy', copy.stateMachine],
      ['restore', copy.restoreStateMachine],
    ];
    const functions = [copy.planner, copy.copier, copy.deleter, copy.thawer, copy.reporter];
    const fnLabel = (fn: (typeof functions)[number]) => fn.node.id.toLowerCase();

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Objects a minute (all jobs)',
        left: [ferry('ObjectsCopied', 'copied'), ferry('ObjectsSkipped', 'skipped'), ferry('ObjectsFailed', 'failed')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Throughput (all jobs)',
        left: [new MathExpression({ expression: 'bytes / 60 / 1000000', usingMetrics: { bytes: ferry('BytesCopied', 'bytes') }, label: 'MB/s', period: Duration.minutes(1) })],
        right: [ferry('Retries', 'retries'), ferry('Throttles', 'throttles (SlowDown)')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Function errors', left: functions.map((fn) => fn.metricErrors({ label: fnLabel(fn), period: Duration.minutes(1) })), width: 8 }),
      new GraphWidget({ title: 'Function throttles', left: functions.map((fn) => fn.metricThrottles({ label: fnLabel(fn), period: Duration.minutes(1) })), width: 8 }),
      new GraphWidget({
        title: 'Function duration (p90)',
        left: functions.map((fn) => fn.metricDuration({ label: fnLabel(fn), statistic: 'p90', period: Duration.minutes(5) })),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Executions',
        left: machines.flatMap(([name, m]): IMetric[] => [
          m.metricStarted({ label: `${name} started`, period: Duration.minutes(5) }),
          m.metricSucceeded({ label: `${name} succeeded`, period: Duration.minutes(5) }),
          m.metricFailed({ label: `${name} failed`, period: Duration.minutes(5) }),
        ]),
        width: 12,
      }),
      ...(props.workQueue
        ? [
            new GraphWidget({
              title: 'Work queue (fleet mode)',
              left: [props.workQueue.metricApproximateNumberOfMessagesVisible({ label: 'manifests waiting' }), props.workQueue.metricApproximateNumberOfMessagesNotVisible({ label: 'manifests being worked' })],
              right: [props.workQueue.metricApproximateAgeOfOldestMessage({ label: 'oldest waiting (s)' })],
              width: 12,
            }),
          ]
        : []),
    );

    const alarm = (id: string, metric: IMetric, description: string) => {
      const a = new Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new SnsAction(props.topic));
      this.alarms.push(a);
      return a;
    };
    alarm('FailedObjects', ferry('ObjectsFailed', undefined, Duration.minutes(5)), 'ferry: objects failed to copy (the job report lists them)');
    for (const [name, m] of machines) {
      alarm(`Failed${name[0]!.toUpperCase()}${name.slice(1)}Executions`, m.metricFailed({ period: Duration.minutes(5) }), `ferry: a ${name} execution failed`);
    }
    const shown = props.deadLetterAlarm ? [...this.alarms, props.deadLetterAlarm] : this.alarms;
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: shown, width: 24 }));
  }
}
