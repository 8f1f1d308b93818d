// The pusher image (docker/Dockerfile) cannot be built here (no Docker engine): these tests check
// what the image relies on instead, and run its entrypoint the way the image does.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runFerry } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every module bin/ferry.ts loads at run time (type-only imports are erased), and the packages they name. */
async function runtimeImports(entry: string): Promise<{ files: Set<string>; packages: Set<string> }> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = async (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = await readFile(file, 'utf8');
    const specifiers = [
      ...text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms),
      ...text.matchAll(/^export\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms),
      ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ].map((m) => m[1] as string);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) await visit(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  };
  await visit(entry);
  return { files, packages };
}

describe('docker/Dockerfile (the pusher image)', () => {
  it('Node 22 slim, not root, ferry as the entrypoint', async () => {
    const text = await readFile(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
    assert.match(text, /^FROM node:22-slim$/m);
    const user = [...text.matchAll(/^USER (\S+)$/gm)].at(-1)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', `runs as ${user}`);
    assert.match(text, /^ENTRYPOINT \["node", "\/opt\/ferry\/bin\/ferry\.ts"\]$/m);
    assert.match(text, /npm ci --omit=dev/);
  });

  it('the image holds every module the CLI loads, and only production dependencies are needed', async () => {
    const text = await readFile(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
    const copied = [...text.matchAll(/^COPY (\S+) \.\/\1$/gm)].map((m) => path.join(ROOT, m[1] as string) + path.sep);
    const { files, packages } = await runtimeImports(path.join(ROOT, 'bin/ferry.ts'));
    for (const file of files) assert.ok(copied.some((dir) => file.startsWith(dir)), `${path.relative(ROOT, file)} is not copied into the image`);
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
    for (const name of packages) assert.ok(name in pkg.dependencies, `${name} is loaded by the CLI but is not a production dependency`);
    assert.ok(packages.has('@aws-sdk/client-sqs'));
  });

  it('the entrypoint runs scan and work (here as in the image: node bin/ferry.ts)', async () => {
    const help = await runFerry(['work', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /scan SRC --to DST --queue URL/);
    assert.match(help.stdout, /work --queue URL/);
    const bad = await runFerry(['work']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'ferry: work needs --queue URL\n');
  });
});
