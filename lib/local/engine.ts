// The local engine: runs a state-machine definition from state-machines/ in-process with the same
// handler modules the Lambdas run. aws-local-stepfunctions interprets every state except the
// Distributed Map, which the engine swaps for a Task that runs lib/local/distributed-map.ts.
import { readFile } from 'node:fs/promises';
import { StateMachine } from 'aws-local-stepfunctions';
import { type DistributedMapState, runDistributedMap } from './distributed-map.ts';
import type { Json } from './jsonpath.ts';

/** A local stand-in for a Lambda function: the handler's core with its dependencies bound. */
export type LocalFunction = (input: Json) => Promise<Json>;

export interface LocalEngineOptions {
  /** Functions by the substitution name the definition uses, e.g. `PlanFunctionArn`. */
  readonly functions: Readonly<Record<string, LocalFunction>>;
  /** s3:getObject and s3:putObject, for ItemReader and ResultWriter. */
  readonly readObject: (bucket: string, key: string) => Promise<string>;
  readonly writeObject: (bucket: string, key: string, body: string) => Promise<void>;
}

type States = Record<string, Record<string, Json>>;

const MAP_FIELDS = [
  'ItemReader',
  'ItemsPath',
  'ItemSelector',
  'ItemBatcher',
  'ItemProcessor',
  'Iterator',
  'MaxConcurrency',
  'MaxConcurrencyPath',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'ResultWriter',
  'Label',
  'Parameters',
];

/** A local ARN per substituted function, so the interpreter's ARN validation passes. */
function localArn(name: string): string {
  return `arn:aws:lambda:us-east-1:000000000000:function:ferry-local-${name}`;
}

export async function loadDefinition(file: string, names: readonly string[]): Promise<{ StartAt: string; States: States }> {
  let text = await readFile(file, 'utf8');
  for (const name of names) text = text.replaceAll(`\${${name}}`, localArn(name));
  const unresolved = text.match(/\$\{[A-Za-z]+\}/);
  if (unresolved) throw new Error(`${file}: no local function for ${unresolved[0]}`);
  return JSON.parse(text);
}

export class LocalEngine {
  readonly #options: LocalEngineOptions;
  readonly #byArn: Map<string, LocalFunction>;
  readonly #processors = new WeakMap<object, object>();

  constructor(options: LocalEngineOptions) {
    this.#options = options;
    this.#byArn = new Map(Object.entries(options.functions).map(([name, fn]) => [localArn(name), fn]));
  }

  /** Runs the definition in `file` to the end and returns its output; throws what the execution failed with. */
  async run(file: string, input: Json): Promise<Json> {
    const definition = await loadDefinition(file, Object.keys(this.#options.functions));
    return this.#execute(definition, input);
  }

  #execute(definition: { StartAt: string; States: States; Comment?: string }, input: Json): Promise<Json> {
    const { machine, handlers } = this.#compile(definition);
    const execution = machine.run(input as never, { overrides: { taskResourceLocalHandlers: handlers as never } });
    // The interpreter wraps what failed the execution; callers (and a parent Map) want the error itself.
    return (execution.result as Promise<Json>).catch((err: Error) => {
      throw err.name === 'ExecutionError' && err.cause instanceof Error ? err.cause : err;
    });
  }

  // Validating a definition costs tens of milliseconds: each one (the root, each Map's processor)
  // is compiled once and its machine reused for every execution, as executions are independent.
  readonly #compiled = new WeakMap<object, { machine: StateMachine; handlers: Record<string, (input: Json) => Promise<Json>> }>();

  #compile(definition: { StartAt: string; States: States; Comment?: string }) {
    const cached = this.#compiled.get(definition);
    if (cached) return cached;
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    const states: States = {};
    for (const [name, state] of Object.entries(definition.States)) {
      const processor = state.ItemProcessor as { ProcessorConfig?: { Mode?: string } } | undefined;
      if (state.Type === 'Map' && processor?.ProcessorConfig?.Mode === 'DISTRIBUTED') {
        states[name] = this.#asTask(state);
        handlers[name] = (mapInput) => this.#distributedMap(state as unknown as DistributedMapState, mapInput);
      } else {
        states[name] = state;
        const fn = state.Type === 'Task' ? this.#byArn.get(state.Resource as string) : undefined;
        if (fn) handlers[name] = fn;
        else if (state.Type === 'Task') throw new Error(`state ${name}: no local function for ${String(state.Resource)}`);
      }
    }
    const machine = new StateMachine(
      { ...definition, States: states } as never,
      { validationOptions: { checkPaths: false } },
    );
    const compiled = { machine, handlers };
    this.#compiled.set(definition, compiled);
    return compiled;
  }

  // The Map's own fields go to the adapter; the rest (paths, Retry, Catch, Next) stay on the Task.
  #asTask(state: Record<string, Json>): Record<string, Json> {
    const task: Record<string, Json> = { Type: 'Task', Resource: localArn('DistributedMap') };
    for (const [key, value] of Object.entries(state)) {
      if (key !== 'Type' && !MAP_FIELDS.includes(key)) task[key] = value;
    }
    return task;
  }

  #distributedMap(state: DistributedMapState, input: Json): Promise<Json> {
    const processor = this.#processors.get(state) ?? (({ ProcessorConfig: _config, ...rest }) => rest)(state.ItemProcessor);
    this.#processors.set(state, processor);
    return runDistributedMap(state, input, {
      readObject: this.#options.readObject,
      writeObject: this.#options.writeObject,
      runChild: (childInput) => this.#execute(processor as { StartAt: string; States: States }, childInput),
    });
  }
}
