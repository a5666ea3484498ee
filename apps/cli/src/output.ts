/** Plain-text tables (padding only, no dependency) and JSON output for the CLI. */

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
