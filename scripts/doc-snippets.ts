/**
 * Keeps the guide's code honest: every TypeScript or JavaScript block in `docs/guide/` (and in the
 * README) must be a copy of a region of a real source file that the tests compile or run. A block
 * says where it comes from on the line before its fence:
 *
 *     <!-- snippet: docs/guide/examples/board.ts#namespace -->
 *
 * and the source marks the region with `// #region namespace` ... `// #endregion`. The block must
 * equal the region's lines, dedented. Shell, nginx, JSON, YAML and text blocks are exempt (they
 * may carry a marker too, and are then checked the same way); a fence without a language is an
 * error, so that code cannot slip past unlabelled. Relative links must name existing files and
 * headings.
 *
 * A block that is an instruction to follow rather than a copy of code (getting-started's "add
 * this line to src/app.ts") says so instead, and `test/guide/steps.test.ts` carries it out:
 *
 *     <!-- step: import-lists -->
 *
 * `tsx scripts/doc-snippets.ts` prints the problems (none: exit 0); `test/docs.test.ts` runs it.
 * `tsx scripts/doc-snippets.ts --write` first copies every marked region into its block.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Languages whose blocks must come from a snippet. */
export const CODE_LANGUAGES: ReadonlySet<string> = new Set(['ts', 'typescript', 'tsx', 'js', 'javascript', 'jsx', 'mjs', 'cjs']);

const MARKER = /^<!--\s*snippet:\s*(\S+?)#([\w.-]+)\s*-->$/;
const STEP = /^<!--\s*step:\s*([\w.-]+)\s*-->$/;
const FENCE = /^(\s{0,3})(`{3,}|~{3,})\s*([^\s`]*)/;
const REGION_START = /^\s*(?:\/\/|<!--|#)\s*#region\s+([\w.-]+)/;
const REGION_END = /^\s*(?:\/\/|<!--|#)\s*#endregion\b/;

/** A fenced code block of a Markdown file. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** The snippet marker on the line before the fence, if any. */
  snippet?: { path: string; region: string };
  /** The step marker on the line before the fence, if any: the name of a step the steps test follows. */
  step?: string;
}

/** Fenced blocks of a Markdown text, and markers that are followed by no block (by line). */
export function codeBlocks(markdown: string): { blocks: CodeBlock[]; strayMarkers: number[] } {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  const strayMarkers: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if ((MARKER.test(line.trim()) || STEP.test(line.trim())) && !FENCE.test(lines[i + 1] ?? '')) strayMarkers.push(i + 1);
    const open = FENCE.exec(line);
    if (!open) continue;
    const [, indent = '', fence = '', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence)) body.push(lines[j++]!);
    const marker = MARKER.exec((lines[i - 1] ?? '').trim());
    const step = STEP.exec((lines[i - 1] ?? '').trim())?.[1];
    blocks.push({
      line: i + 1,
      lang: lang.toLowerCase(),
      code: body.map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart())).join('\n'),
      ...(marker ? { snippet: { path: marker[1]!, region: marker[2]! } } : {}),
      ...(step ? { step } : {}),
    });
    i = j;
  }
  return { blocks, strayMarkers };
}

/** The lines of region `name` in `source`, dedented, without nested region markers; undefined if absent. */
export function region(source: string, name: string): string | undefined {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => REGION_START.exec(l)?.[1] === name);
  if (start < 0) return undefined;
  const out: string[] = [];
  let depth = 0;
  for (const line of lines.slice(start + 1)) {
    if (REGION_START.test(line)) {
      depth++;
      continue;
    }
    if (REGION_END.test(line)) {
      if (depth-- === 0) return dedent(out);
      continue;
    }
    out.push(line);
  }
  return undefined;
}

function dedent(lines: string[]): string {
  const indents = lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut).trimEnd()).join('\n').trim();
}

/** Problems of one Markdown file (`file` relative to `root`), as `file:line: text`. */
export function checkMarkdown(root: string, file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const { blocks, strayMarkers } = codeBlocks(text);
  const problems = strayMarkers.map((line) => `${file}:${line}: snippet marker not followed by a code block`);
  for (const block of blocks) {
    const at = `${file}:${block.line}`;
    if (!block.lang) {
      problems.push(`${at}: code block without a language`);
      continue;
    }
    if (!block.snippet) {
      if (CODE_LANGUAGES.has(block.lang) && !block.step) problems.push(`${at}: ${block.lang} block without <!-- snippet: path#region --> on the line before`);
      continue;
    }
    const { path, region: name } = block.snippet;
    const source = join(root, path);
    if (!existsSync(source)) {
      problems.push(`${at}: snippet file ${path} does not exist`);
      continue;
    }
    const expected = region(readFileSync(source, 'utf8'), name);
    if (expected === undefined) problems.push(`${at}: no region "${name}" (// #region ${name} ... // #endregion) in ${path}`);
    else if (expected !== dedent(block.code.split('\n'))) problems.push(`${at}: block differs from ${path}#${name}; copy the region again (tsx scripts/doc-snippets.ts --write)`);
  }
  for (const [index, target, anchor] of links(text)) {
    const line = text.slice(0, index).split('\n').length;
    const abs = target ? resolve(dirname(join(root, file)), target) : join(root, file);
    if (!existsSync(abs)) problems.push(`${file}:${line}: link to missing file ${target}`);
    else if (anchor && abs.endsWith('.md') && !anchors(readFileSync(abs, 'utf8')).has(anchor)) {
      problems.push(`${file}:${line}: link to missing heading ${target}#${anchor}`);
    }
  }
  return problems;
}

/** GitHub's anchors of a page's headings: lowercased, punctuation dropped, spaces to dashes. */
export function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (FENCE.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    let unique = slug;
    for (let n = 1; out.has(unique); n++) unique = `${slug}-${n}`;
    out.add(unique);
  }
  return out;
}

/** `markdown` with every marked block replaced by its region (blocks whose region is missing are kept). */
export function fillSnippets(root: string, markdown: string): string {
  const lines = markdown.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]!);
    const marker = MARKER.exec(lines[i]!.trim());
    const open = FENCE.exec(lines[i + 1] ?? '');
    if (!marker || !open) continue;
    const source = join(root, marker[1]!);
    const code = existsSync(source) ? region(readFileSync(source, 'utf8'), marker[2]!) : undefined;
    if (code === undefined) continue;
    let end = i + 2;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(open[2]!)) end++;
    out.push(lines[i + 1]!, ...code.split('\n').map((l) => (l ? open[1] + l : l)), lines[end] ?? open[1]! + open[2]!);
    i = end;
  }
  return out.join('\n');
}

/** Relative links of a Markdown text (no scheme), with their offsets: [offset, file or '' for this page, anchor]. */
function links(text: string): Array<[number, string, string]> {
  const out: Array<[number, string, string]> = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const [target = '', anchor = ''] = m[1]!.split('#');
    if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) out.push([m.index, decodeURIComponent(target), anchor]);
  }
  return out;
}

/** The checked pages: the guide, the README and the package's README (their code samples too come from real files). */
export function checkedFiles(root: string): string[] {
  return [join(root, 'README.md'), join(root, 'docs/package-readme.md'), ...markdownFiles(join(root, 'docs/guide'))];
}

/** Problems of every checked page. */
export function checkDocs(root: string): string[] {
  return checkedFiles(root).flatMap((abs) => checkMarkdown(root, relative(root, abs)));
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const abs = join(dir, name);
      if (statSync(abs).isDirectory()) return markdownFiles(abs);
      return name.endsWith('.md') ? [abs] : [];
    });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  if (process.argv.includes('--write')) {
    for (const file of checkedFiles(root)) writeFileSync(file, fillSnippets(root, readFileSync(file, 'utf8')));
  }
  const problems = checkDocs(root);
  for (const p of problems) console.error(p);
  process.exit(problems.length ? 1 : 0);
}
