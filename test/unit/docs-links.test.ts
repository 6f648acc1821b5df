import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * Links between the docs, and the alerts' runbook links into docs/troubleshooting.md, point at
 * files and headings that exist (anchors as GitHub makes them from headings).
 */

const root = path.join(import.meta.dirname, '..', '..');
const docs = [path.join(root, 'README.md'), path.join(root, 'CHANGELOG.md'), path.join(root, 'charts', 'eventraft', 'README.md'), ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(root, 'docs', f))];

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set(
    [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] as string)
        .toLowerCase()
        .replace(/`/g, '')
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('documentation links', () => {
  it('point at files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of docs) {
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [rel = '', anchor] = target.split('#');
        const dest = rel === '' ? file : path.resolve(path.dirname(file), rel);
        if (!existsSync(dest)) broken.push(`${path.relative(root, file)}: ${target} (no such file)`);
        else if (anchor !== undefined && dest.endsWith('.md') && !anchors(dest).has(anchor)) broken.push(`${path.relative(root, file)}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every alert runbook points at a heading of docs/troubleshooting.md', () => {
    const rules = parse(readFileSync(path.join(root, 'charts', 'eventraft', 'rules', 'eventraft-alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string; annotations: { runbook_url: string } }[] }[] };
    const headings = anchors(path.join(root, 'docs', 'troubleshooting.md'));
    const missing = rules.groups.flatMap((g) => g.rules).filter((r) => !headings.has(r.annotations.runbook_url.split('#')[1] ?? '')).map((r) => `${r.alert}: ${r.annotations.runbook_url}`);
    expect(missing).toEqual([]);
  });
});
