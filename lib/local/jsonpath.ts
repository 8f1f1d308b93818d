// The slice of Amazon States Language paths and payload templates that ferry's state machines use
// inside a Distributed Map (ItemReader Parameters, ItemSelector): `$`, `$$` and dotted/indexed
// paths. Anything else (intrinsic functions, filters) is refused loudly rather than misread.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function readPath(path: string, input: Json, context: Json): Json {
  let root: Json;
  let rest: string;
  if (path.startsWith('$$')) {
    root = context;
    rest = path.slice(2);
  } else if (path.startsWith('$')) {
    root = input;
    rest = path.slice(1);
  } else {
    throw new Error(`unsupported path "${path}" in the local Distributed Map`);
  }
  const steps = rest.match(/\.[A-Za-z0-9_-]+|\[\d+\]/g) ?? [];
  if (steps.join('') !== rest) throw new Error(`unsupported path "${path}" in the local Distributed Map`);
  let value: Json | undefined = root;
  for (const step of steps) {
    if (step.startsWith('[')) {
      value = Array.isArray(value) ? value[Number(step.slice(1, -1))] : undefined;
    } else {
      value = value !== null && typeof value === 'object' && !Array.isArray(value) ? value[step.slice(1)] : undefined;
    }
    if (value === undefined) {
      const err = new Error(`Invalid path '${path}': the path does not exist in the input`);
      err.name = 'States.Runtime';
      throw err;
    }
  }
  return value;
}

/** A payload template: keys ending in `.$` take the value at their path; the rest are literal. */
export function applyTemplate(template: Json, input: Json, context: Json): Json {
  if (Array.isArray(template)) return template.map((t) => applyTemplate(t, input, context));
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string') throw new Error(`template field ${key} is not a path`);
      out[key.slice(0, -2)] = readPath(value, input, context);
    } else {
      out[key] = applyTemplate(value, input, context);
    }
  }
  return out;
}
