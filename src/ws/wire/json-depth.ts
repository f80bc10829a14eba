/**
 * A cheap guard run on a frame's text before `JSON.parse`: deeply nested JSON is legal but costs
 * every recursive consumer after us (schemas, handlers, `JSON.stringify` of a rebroadcast) stack
 * and time, so it is refused up front.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Whether the text nests objects/arrays deeper than `maxDepth` (outside of strings). */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  if (!Number.isFinite(maxDepth)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH) i++;
      else if (ch === QUOTE) inString = false;
    } else if (ch === QUOTE) {
      inString = true;
    } else if (ch === OPEN_BRACE || ch === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (ch === CLOSE_BRACE || ch === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
