/** Plain-text tables (padding only, no dependency) and JSON output for the CLI. */

// C0/C1 controls (ESC and CSI start terminal sequences) and bidi overrides ("trojan source").
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text the server holds (task types, payloads, names) printed to a terminal: without controls, so
 * a hostile value cannot move the cursor, rewrite the screen or set the clipboard.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, '');
}

/** JSON whose unsafe characters are \u escapes: the same value, and safe to print. */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Cut cells longer than this (default 60). */
  max?: number;
}

export function cell(value: unknown, max = 60): string {
  let text: string;
  if (value === null || value === undefined) text = '-';
  else if (Array.isArray(value)) text = value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',');
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  text = text.replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)];
  if (rows.length === 0) out.push('(none)');
  return out.join('\n');
}

/** Key/value lines for one object. */
export function details(obj: Record<string, unknown>, keys?: string[]): string {
  const shown = keys ?? Object.keys(obj);
  const width = Math.max(...shown.map((k) => k.length));
  return shown.map((k) => `${k.padEnd(width)}  ${cell(obj[k], 200)}`).join('\n');
}

export function ago(iso: unknown): string {
  if (typeof iso !== 'string') return '-';
  const sec = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(sec)) return '-';
  if (Math.abs(sec) < 60) return `${sec}s ago`;
  if (Math.abs(sec) < 3600) return `${Math.round(sec / 60)}m ago`;
  if (Math.abs(sec) < 86400) return `${Math.round(sec / 3600)}h ago`;
  return `${Math.round(sec / 86400)}d ago`;
}
