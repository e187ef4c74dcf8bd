// A small markdown renderer for knowledge-base articles, building DOM nodes only (every piece
// of the text becomes a text node: nothing is parsed as HTML). It knows headings, paragraphs,
// lists, fenced code, **bold**, *italics*, `code` and [links](address); links open in a new
// tab with rel="noopener noreferrer" and only for http(s) and mailto addresses (others stay
// text). Anything else shows as the text it is.

import { h } from "./dom.js";

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const INLINE = /(\*\*[^*]+\*\*|__[^_]+__|\*[^*\s][^*]*\*|_[^_\s][^_]*_|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/;
const SAFE_LINK = /^(https?:|mailto:)/i;

/** `text` (markdown) as a list of block elements; `headingBase`: the level of "#". */
export function renderMarkdown(text, { headingBase = 3 } = {}) {
  const blocks = [];
  let paragraph = [];
  let list = null; // {tag, items}
  let code = null; // lines of a fenced block

  const endParagraph = () => {
    if (paragraph.length) blocks.push(h("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
  };
  const endList = () => {
    if (list) blocks.push(h(list.tag, {}, list.items.map((item) => h("li", {}, inline(item)))));
    list = null;
  };

  for (const line of String(text).split("\n")) {
    if (code !== null) {
      if (FENCE.test(line)) {
        blocks.push(h("pre", {}, h("code", {}, code.join("\n"))));
        code = null;
      } else code.push(line);
      continue;
    }
    if (FENCE.test(line)) {
      endParagraph();
      endList();
      code = [];
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      endParagraph();
      endList();
      const level = Math.min(6, headingBase + heading[1].length - 1);
      blocks.push(h(`h${level}`, {}, inline(heading[2])));
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet || numbered) {
      endParagraph();
      const tag = bullet ? "ul" : "ol";
      if (list && list.tag !== tag) endList();
      if (!list) list = { tag, items: [] };
      list.items.push((bullet || numbered)[1]);
      continue;
    }
    if (!line.trim()) {
      endParagraph();
      endList();
      continue;
    }
    if (list && /^\s+\S/.test(line)) { // a list item's continued line
      list.items[list.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    endList();
    paragraph.push(line.trim());
  }
  if (code !== null) blocks.push(h("pre", {}, h("code", {}, code.join("\n"))));
  endParagraph();
  endList();
  return blocks;
}

/** A line's text with its inline marks as elements (text nodes and safe links only). */
export function inline(text) {
  const out = [];
  for (const part of String(text).split(INLINE)) {
    if (!part) continue;
    if (/^(\*\*|__).+\1$/.test(part)) out.push(h("strong", {}, inline(part.slice(2, -2))));
    else if (/^([*_]).+\1$/.test(part) && part.length > 2) out.push(h("em", {}, inline(part.slice(1, -1))));
    else if (/^`.+`$/.test(part)) out.push(h("code", {}, part.slice(1, -1)));
    else if (part.startsWith("[")) {
      const match = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(part);
      if (match && SAFE_LINK.test(match[2])) {
        out.push(h("a", { href: match[2], target: "_blank", rel: "noopener noreferrer" }, match[1]));
      } else out.push(part);
    } else out.push(part);
  }
  return out;
}
