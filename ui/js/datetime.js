// Dates and times for the engineer console's tables: always with the date, in 24-hour time
// ("2026-12-03 17:04:09"), in the screen's local time zone, whatever the day.

const two = (n) => String(n).padStart(2, '0');

/** An ISO time or epoch ms -> "YYYY-MM-DD HH:MM:SS" (local, 24-hour); "–" for none. */
export function dateTime(t) {
  if (t === null || t === undefined) return '–';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The same without seconds: "YYYY-MM-DD HH:MM". */
export function dateMinute(t) {
  const full = dateTime(t);
  return /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(full) ? full.slice(0, 16) : full;
}
