import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * Where the docs' team specs live: beside the repository, not in it, so a
 * mention of one is written with this prefix and not taken for a missing file.
 */
const SPEC_PREFIX = 'shared/spec/';

/**
 * The anchors GitHub gives a Markdown file's headings: lower case, punctuation
 * (backticks included) dropped, spaces turned to hyphens, and a repeated one
 * suffixed -1, -2, … Headings inside fenced code are not headings.
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of outsideCodeFences(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/**
 * What is wrong with the references of the Markdown files `files` (paths
 * relative to `root`): a relative link to a file that does not exist or to a
 * heading it does not have, and a `name.md` named in the text that exists
 * neither beside the file nor from the root (a reader would look for it in
 * vain). One line per problem, naming the file; none when all is well.
 */
export function brokenDocReferences(root: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const path = join(root, file);
    const text = outsideCodeFences(readFileSync(path, 'utf8')).join('\n');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto:
      const [linked = '', anchor] = target!.split('#');
      const targetPath = linked === '' ? path : join(dirname(path), linked);
      if (!existsSync(targetPath)) problems.push(`${file}: link to missing ${target}`);
      else if (
        anchor !== undefined &&
        !headingAnchors(readFileSync(targetPath, 'utf8')).has(anchor)
      )
        problems.push(
          `${file}: link to ${target}, but ${relative(root, targetPath)} has no such heading`,
        );
    }
    const prose = text.replace(/\]\([^)]*\)/g, ']').replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '');
    for (const [mention] of prose.matchAll(/[\w./-]*\w\.md\b/g)) {
      if (mention.startsWith(SPEC_PREFIX)) continue;
      if (existsSync(join(dirname(path), mention)) || existsSync(join(root, mention))) continue;
      problems.push(`${file}: names ${mention}, which is not in the repository`);
    }
  }
  return problems;
}

function outsideCodeFences(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').filter((line) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    return !fenced && !/^\s*(```|~~~)/.test(line);
  });
}
