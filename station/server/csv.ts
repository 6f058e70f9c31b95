// CSV for the records export (RFC 4180 quoting), with cells that a spreadsheet would run as a
// formula (starting with = + - @, or a tab or carriage return) prefixed with ' so a value from a
// DUT or a scanner can never become a formula on an engineer's machine (CSV injection).

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}
