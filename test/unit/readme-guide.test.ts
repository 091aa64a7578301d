// README.md is a guide (at most 300 lines) and docs/ explain; both link only to files of this
// repository that exist, and to headings that exist in them. The checks run against a scratch tree
// first, so each is seen to fail for the reason it names, then against the repository itself.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { after, test } from 'node:test';

const REPO = resolve(import.meta.dirname, '..', '..');
const README_MAX_LINES = 300;

/** README.md and every markdown file under docs/, as paths relative to the root. */
function markdownFiles(root: string): string[] {
  const found = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found.sort();
}

/** The text outside fenced code blocks and inline code, where a `[x](y)` is a real link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const match of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(match[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  return result;
}

/** Every problem with the guide and the docs under `root`, one line each; none is good. */
export function docProblems(root: string): string[] {
  const problems: string[] = [];
  const readmeLines = readFileSync(join(root, 'README.md'), 'utf8').split('\n').length - 1;
  if (readmeLines > README_MAX_LINES)
    problems.push(`README.md: ${readmeLines} lines, more than ${README_MAX_LINES}: move detail to docs/`);

  for (const file of markdownFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    // A path outside the repository, linked or merely quoted, is one a reader of a clone lacks.
    for (const outside of text.match(/\/work\/[\w./-]*|(?:\.\.\/)+shared\b[\w./-]*/g) ?? [])
      problems.push(`${file}: names ${outside}, which is outside the repository`);

    const body = prose(text);
    const targets = [
      ...[...body.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...body.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^(https?:|mailto:)/i.test(target)) continue;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('/')) {
        problems.push(`${file}: link ${target} is not a path inside the repository`);
        continue;
      }
      const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
      const linked = pathPart === '' ? join(root, file) : resolve(root, dirname(file), decodeURI(pathPart));
      const inRepo = relative(root, linked);
      if (inRepo.startsWith('..') || inRepo.startsWith(sep)) {
        problems.push(`${file}: link ${target} leaves the repository`);
        continue;
      }
      let linkedText: string;
      try {
        linkedText = readFileSync(linked, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EISDIR' && anchor === undefined) continue; // a link to a folder of the repo
        problems.push(
          `${file}: link ${target} points at ${inRepo}, which does not exist (${code ?? 'unreadable'})`,
        );
        continue;
      }
      if (anchor !== undefined && linked.endsWith('.md') && !anchors(linkedText).has(anchor))
        problems.push(`${file}: link ${target}: ${inRepo} has no heading #${anchor}`);
    }
  }
  return problems;
}

const scratch = mkdtempSync(join(tmpdir(), 'ferry-readme-guide-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(scratch, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const GOOD = {
  'README.md': '# x\n\nSee [the design](docs/architecture.md#layers-one-way) and [docs](docs/).\n',
  'docs/architecture.md': '# Architecture\n\n## Layers: one way\n\nBack to [the guide](../README.md).\n',
};

test('readme guide - a well-linked scratch tree has no problems', () => {
  assert.deepEqual(docProblems(tree(GOOD)), []);
});

test('readme guide - a README longer than 300 lines is refused', () => {
  const root = tree({ ...GOOD, 'README.md': GOOD['README.md'] + 'line\n'.repeat(300) });
  assert.deepEqual(docProblems(root), ['README.md: 303 lines, more than 300: move detail to docs/']);
});

test('readme guide - a link to a file that does not exist is refused, in README and in docs', () => {
  const root = tree({
    ...GOOD,
    'README.md': GOOD['README.md'] + 'And [gone](docs/gone.md).\n',
    'docs/measurements/run.md': '# Run\n\nSee [speed](../speed.md).\n',
  });
  assert.deepEqual(docProblems(root), [
    'README.md: link docs/gone.md points at docs/gone.md, which does not exist (ENOENT)',
    'docs/measurements/run.md: link ../speed.md points at docs/speed.md, which does not exist (ENOENT)',
  ]);
});

test('readme guide - a link to a heading that does not exist is refused', () => {
  const root = tree({ ...GOOD, 'README.md': '# x\n\n[layers](docs/architecture.md#layering)\n' });
  assert.deepEqual(docProblems(root), [
    'README.md: link docs/architecture.md#layering: docs/architecture.md has no heading #layering',
  ]);
});

test('readme guide - links and paths outside the repository are refused', () => {
  const root = tree({
    ...GOOD,
    'README.md': '# x\n\n[design](../shared/DESIGN.md), [abs](/etc/hosts), [file](file:///tmp/x)\n',
    'docs/architecture.md': GOOD['docs/architecture.md'] + 'The design is in `/work/shared/DESIGN.md`.\n',
  });
  assert.deepEqual(docProblems(root), [
    'README.md: names ../shared/DESIGN.md, which is outside the repository',
    'README.md: link ../shared/DESIGN.md leaves the repository',
    'README.md: link /etc/hosts is not a path inside the repository',
    'README.md: link file:///tmp/x is not a path inside the repository',
    'docs/architecture.md: names /work/shared/DESIGN.md, which is outside the repository',
  ]);
});

test('readme guide - a link inside a code block or inline code is not a link', () => {
  const root = tree({ ...GOOD, 'docs/code.md': '# Code\n\n```md\n[x](nowhere.md)\n```\n\n`[y](gone.md)`\n' });
  assert.deepEqual(docProblems(root), []);
});

test('readme guide - README.md is a guide and every link in it and in docs/ resolves inside the repository', () => {
  assert.deepEqual(docProblems(REPO), []);
});
