/**
 * Django's default DATETIME_FORMAT, "N j, Y, P" (django/conf/global_settings.py),
 * in UTC (the project's TIME_ZONE): how its admin dates a log entry
 * ("Dec. 1, 2026, 12:36 a.m.", "Jan. 5, 2027, noon").
 */

/** Django's MONTHS_AP: the Associated Press's abbreviations ("N"). */
const MONTHS_AP = [
  'Jan.',
  'Feb.',
  'March',
  'April',
  'May',
  'June',
  'July',
  'Aug.',
  'Sept.',
  'Oct.',
  'Nov.',
  'Dec.',
] as const;

export function djangoDateTime(date: Date): string {
  return `${MONTHS_AP[date.getUTCMonth()]!} ${date.getUTCDate()}, ${date.getUTCFullYear()}, ${timeOfDay(date)}`;
}

/**
 * "P": 12-hour time with "a.m." or "p.m.", its minutes left off when zero, and
 * "midnight" and "noon" for those.
 */
function timeOfDay(date: Date): string {
  const hour = date.getUTCHours();
  const minute = date.getUTCMinutes();
  if (minute === 0 && hour === 0) return 'midnight';
  if (minute === 0 && hour === 12) return 'noon';
  const clock =
    minute === 0 ? `${hour % 12 || 12}` : `${hour % 12 || 12}:${String(minute).padStart(2, '0')}`;
  return `${clock} ${hour > 11 ? 'p.m.' : 'a.m.'}`;
}
