import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { renderChart, validateObject } from '../../scripts/chart-check.ts';
import type { RenderedObject } from '../../scripts/chart-check.ts';
import { NODE_RUNTIME_FLAGS } from '../../node/runtime-flags.ts';

/**
 * The kind e2e (test/e2e/kind/run.sh) needs Docker, which this machine lacks; everything of it
 * that runs without Docker runs here: the script's syntax and the files it names, the chart
 * rendered with its values, its Job manifests against the Kubernetes schemas, the Dockerfile's
 * entry points, the workflow that runs it.
 */

const root = path.join(import.meta.dirname, '..', '..');
const kindDir = path.join(root, 'test', 'e2e', 'kind');
const read = (file: string): Promise<string> => readFile(path.join(root, file), 'utf8');

describe('the kind e2e', () => {
  it('is a valid bash script naming only files that exist', async () => {
    const check = spawnSync('bash', ['-n', path.join(kindDir, 'run.sh')], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const script = await read('test/e2e/kind/run.sh');
    const files = [...script.matchAll(/\b((?:test\/e2e\/kind|charts\/eventraft|crds\/samples)[\w./-]*)/g)].map((m) => (m[1] as string).replace(/\/$/, ''));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) expect([file, existsSync(path.join(root, file))]).toEqual([file, true]);
  });

  it('installs a chart whose objects are valid with its values, including the example cluster helm test checks', async () => {
    const objects = renderChart([path.join(kindDir, 'values.yaml')]);
    expect((await Promise.all(objects.map(validateObject))).flat()).toEqual([]);
    const example = objects.find((o) => o.kind === 'RaftCluster');
    expect(example?.metadata.name).toBe('example');
    expect(objects.find((o) => o.kind === 'Pod')?.metadata.annotations?.['helm.sh/hook']).toBe('test');
    const deployment = objects.find((o) => o.kind === 'Deployment') as RenderedObject;
    expect(JSON.stringify(deployment)).toContain('"image":"eventraft:e2e"');
  });

  it('runs the scenario as a Job whose manifests are valid and whose image the script builds', async () => {
    const script = await read('test/e2e/kind/run.sh');
    const manifests = parseAllDocuments(await read('test/e2e/kind/scenario-job.yaml')).map((d) => d.toJS() as RenderedObject);
    expect(manifests.map((m) => m.kind)).toEqual(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'Job']);
    expect((await Promise.all(manifests.map(validateObject))).flat()).toEqual([]);
    const job = JSON.stringify(manifests.at(-1));
    const e2eImage = /^E2E_IMAGE=(\S+)$/m.exec(script)?.[1];
    expect(job).toContain(`"image":"${String(e2eImage)}"`);
    expect(script).toContain('docker build --target e2e -t "$E2E_IMAGE" .');
  });

  it('builds an image whose entry points exist where the Dockerfile runs them', async () => {
    const dockerfile = await read('Dockerfile');
    const build = JSON.parse(await read('tsconfig.build.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });
    expect(dockerfile).toContain(`ENTRYPOINT ${JSON.stringify(['node', ...NODE_RUNTIME_FLAGS, '/app/dist/node/cli.js']).replaceAll(',', ', ')}`);
    expect(existsSync(path.join(root, 'node', 'cli.ts'))).toBe(true);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "/src/test/e2e/kind/scenario-job.ts"]');
    expect(existsSync(path.join(kindDir, 'scenario-job.ts'))).toBe(true);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    // Everything the build stage copies is in the build context.
    const ignored = (await read('.dockerignore')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of (m[1] as string).split(' ')) expect([src, ignored.includes(src)]).toEqual([src, false]);
  });

  it('has a GitHub Actions workflow that runs it', async () => {
    const workflow = parse(await read('.github/workflows/kind-e2e.yaml')) as { jobs: Record<string, { steps: { run?: string }[] }> };
    const runs = Object.values(workflow.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
    expect(runs).toContain('test/e2e/kind/run.sh');
  });
});
