/**
 * Cells of the generated Markdown tables (model zoo, benchmarks). The site's tables wrap inside their
 * column; a long name such as a registry id is one word, so it gets break points where it may wrap.
 */

/** Escapes HTML and the Markdown table's `|` for a table cell. */
export const escHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '&#124;');

/** Break opportunities after `.`, `_` and `/` (`<wbr>`), so long names and links wrap inside a narrow column. */
export const breakable = (s: string): string => s.replace(/([._/])(?=.)/g, '$1<wbr>');

/** A name in code type that may wrap at its dots and underscores (a registry id is a long single word). */
export const codeName = (s: string): string => `<code>${breakable(escHtml(s))}</code>`;
