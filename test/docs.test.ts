/**
 * The guide (`docs/guide/`) shows only code that the tests compile or run: each TypeScript or
 * JavaScript block is a copy of a marked region of a real file (see `scripts/doc-snippets.ts`),
 * and the API reference names every export of the server and the client.
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDocs, checkMarkdown, region } from '../scripts/doc-snippets.ts';
import { describeVariables } from '../src/config.ts';

const ROOT = join(import.meta.dirname, '..');
const EXAMPLES = 'docs/guide/examples';

describe('docs/guide and README.md', () => {
  it('has no code block that differs from its source region, and no broken marker or link', () => {
    expect(checkDocs(ROOT)).toEqual([]);
  });

  it.each([
    ['src/ws/index.ts', 'docs/guide/api-server.md'],
    ['src/client/index.ts', 'docs/guide/api-client.md'],
  ])('names every export of %s in %s, and uses each in an example', (index, page) => {
    const text = readFileSync(join(ROOT, page), 'utf8');
    const names = exportNames(readFileSync(join(ROOT, index), 'utf8'));
    expect(names.filter((name) => !text.includes(`\`${name}\``))).toEqual([]);
    const examples = readdirSync(join(ROOT, EXAMPLES)).map((f) => readFileSync(join(ROOT, EXAMPLES, f), 'utf8')).join('\n');
    expect(names.filter((name) => !new RegExp(`\\b${name}\\b`).test(examples))).toEqual([]);
  });
});

describe('docs/operations.md', () => {
  it('lists every configuration variable with what it accepts, in the words of its error', () => {
    const page = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const table = page.slice(page.indexOf('## Configuration'), page.indexOf('\n## ', page.indexOf('## Configuration') + 1));
    const rows = new Map([...table.matchAll(/^\| `([A-Z_]+)` \| [^|]*\| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    const variables = describeVariables();
    expect(variables.length).toBeGreaterThan(30);
    expect(variables.filter(({ name, accepts }) => rows.get(name) !== accepts)).toEqual([]);
  });
});

/** Names exported by an index module's `export { ... } from` and `export type { ... } from` lines. */
function exportNames(source: string): string[] {
  return [...source.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((m) =>
    m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, '').split(/\s+as\s+/).pop()!).filter(Boolean),
  );
}

describe('the snippet check', () => {
  function fixture(markdown: string, sources: Record<string, string>): string[] {
    const root = mkdtempSync(join(tmpdir(), 'snippets-'));
    mkdirSync(join(root, 'docs'));
    for (const [path, text] of Object.entries(sources)) writeFileSync(join(root, path), text);
    writeFileSync(join(root, 'docs/page.md'), markdown);
    return checkMarkdown(root, 'docs/page.md');
  }
  const source = 'function f() {\n  // #region body\n  if (x) {\n    y();\n  }\n  // #endregion\n}\n';
  const block = (marker: string, code: string, lang = 'ts') => `text\n${marker}\n\`\`\`${lang}\n${code}\n\`\`\`\n`;

  it('accepts a block equal to its region, dedented', () => {
    expect(fixture(block('<!-- snippet: a.ts#body -->', 'if (x) {\n  y();\n}'), { 'a.ts': source })).toEqual([]);
  });

  it('fails a ts or js block without a marker, and a fence without a language', () => {
    expect(fixture(block('', 'x()'), {})).toEqual(['docs/page.md:3: ts block without <!-- snippet: path#region --> on the line before']);
    expect(fixture(block('', 'x()', 'js'), {})).toHaveLength(1);
    expect(fixture(block('', 'x()', ''), {})).toEqual(['docs/page.md:3: code block without a language']);
  });

  it('accepts a ts block marked as a step (test/guide/steps.test.ts carries it out)', () => {
    expect(fixture(block('<!-- step: add-import -->', "import { x } from './x.ts';"), {})).toEqual([]);
  });

  it('exempts shell, nginx, JSON and text blocks', () => {
    for (const lang of ['sh', 'nginx', 'json', 'text']) expect(fixture(block('', 'anything', lang), {})).toEqual([]);
  });

  it('fails a block that differs, a missing file or region, and a marker without a block', () => {
    expect(fixture(block('<!-- snippet: a.ts#body -->', 'if (x) {\n  z();\n}'), { 'a.ts': source })[0]).toMatch(/differs from a\.ts#body/);
    expect(fixture(block('<!-- snippet: b.ts#body -->', 'x'), {})[0]).toMatch(/file b\.ts does not exist/);
    expect(fixture(block('<!-- snippet: a.ts#other -->', 'x'), { 'a.ts': source })[0]).toMatch(/no region "other"/);
    expect(fixture('<!-- snippet: a.ts#body -->\n\nprose\n', { 'a.ts': source })).toEqual(['docs/page.md:1: snippet marker not followed by a code block']);
  });

  it('fails a relative link to a missing file or heading', () => {
    expect(fixture('see [it](nowhere.md#top) and [web](https://hono.dev)\n', {})).toEqual(['docs/page.md:1: link to missing file nowhere.md']);
    const page = '# Top\n## `ctx`: who, and why?\n[a](#top) [b](#ctx-who-and-why) [c](#nope)\n';
    expect(fixture(page, {})).toEqual(['docs/page.md:3: link to missing heading #nope']);
  });

  it('leaves nested region markers out of the outer region', () => {
    expect(region('// #region outer\na\n// #region inner\nb\n// #endregion\nc\n// #endregion\n', 'outer')).toBe('a\nb\nc');
    expect(region('// #region open\na\n', 'open')).toBeUndefined();
  });
});
