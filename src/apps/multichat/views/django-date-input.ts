/**
 * How Django 3.2 reads a date or time typed into a lookup's value (DateTimeField,
 * DateField and TimeField's to_python: django/utils/dateparse.py's parse_datetime,
 * parse_date and parse_time), with USE_TZ and the project's TIME_ZONE, UTC: an instant without
 * an offset is one in UTC. What Python refuses (a 30 February, hour 24, an
 * offset of a day) is no value, which the admin answers with `?e=1`.
 * (Python's \d also takes non-ASCII decimal digits; those read here as no date.)
 */
import type { Timestamp } from '../../../db/search.js';
import { sqliteTimestampText } from '../../../db/values.js';

/** parse_datetime's datetime_re; `\n?$` is Python's `$`, which also matches before a last newline. */
const DATE_TIME =
  /^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6})\d{0,6})?)?(Z|[+-]\d{2}(?::?\d{2})?)?\n?$/;
/** parse_date's date_re. */
const DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})\n?$/;
/** parse_time's time_re, which re.match reads from the start only: what follows it is ignored. */
const TIME = /^(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6})\d{0,6})?)?/;

const MINUTES_A_DAY = 24 * 60;

/** Whether Python's datetime has the year (MINYEAR 1 to MAXYEAR 9999). */
export function isDjangoYear(year: number): boolean {
  return Number.isInteger(year) && year >= 1 && year <= 9999;
}

/** Midnight UTC of a day, or undefined where datetime.date() raises ValueError. */
function day(year: number, month: number, date: number): Date | undefined {
  if (!isDjangoYear(year) || month < 1 || month > 12 || date < 1) return undefined;
  const midnight = new Date(0);
  // setUTCFullYear, as Date.UTC reads the years 0–99 as 1900–1999.
  midnight.setUTCFullYear(year, month - 1, date);
  return midnight.getUTCMonth() === month - 1 ? midnight : undefined;
}

const pad = (number: number, digits = 2): string => String(number).padStart(digits, '0');

/** DateField.to_python: "YYYY-MM-DD", as Django binds a date. */
export function djangoDate(text: string): string | undefined {
  const match = DATE.exec(text);
  const date = match && day(Number(match[1]), Number(match[2]), Number(match[3]));
  return date ? date.toISOString().slice(0, 10) : undefined;
}

/**
 * DateTimeField.to_python then get_prep_value: parse_datetime, else parse_date
 * at midnight; the instant to the microsecond (the digits past six dropped, as
 * Python's), in UTC where that is within years 1–9999, and in its own offset.
 */
export function djangoDateTime(text: string): Timestamp | undefined {
  const match = DATE_TIME.exec(text) ?? DATE.exec(text);
  if (!match) return undefined;
  const [, year, month, date, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  const midnight = day(Number(year), Number(month), Number(date));
  const offset = zoneMinutes(zone);
  if (!midnight || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59)
    return undefined;
  if (Math.abs(offset) >= MINUTES_A_DAY) return undefined;
  const microseconds = fraction.padEnd(6, '0');
  const wall = new Date(
    midnight.getTime() + ((Number(hour) * 60 + Number(minute)) * 60 + Number(second)) * 1000,
  );
  const instant = new Date(wall.getTime() - offset * 60_000);
  const sign = offset < 0 ? '-' : '+';
  const zoned = `${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return {
    utc: isDjangoYear(instant.getUTCFullYear())
      ? sqliteTimestampText(`${dateAndTime(instant)}.${microseconds}`)
      : undefined,
    zoned: `${dateAndTime(wall)}.${microseconds}${sign}${zoned}`,
  };
}

/** "YYYY-MM-DD HH:MM:SS" of a Date's UTC fields. */
function dateAndTime(date: Date): string {
  const calendar = [date.getUTCMonth() + 1, date.getUTCDate()].map((n) => pad(n)).join('-');
  const clock = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    .map((n) => pad(n))
    .join(':');
  return `${pad(date.getUTCFullYear(), 4)}-${calendar} ${clock}`;
}

/**
 * TimeField.to_python: parse_time, as "HH:MM:SS.ffffff" (always to the
 * microsecond, so that SQLite compares it as text with the `time` transform's).
 * parse_time takes no offset: "12:30+01:00" is 12:30, the rest never read.
 */
export function djangoTime(text: string): string | undefined {
  const match = TIME.exec(text);
  if (!match) return undefined;
  const [, hour, minute, second = '0', fraction = ''] = match;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  const clock = [hour, minute, second].map((n) => pad(Number(n))).join(':');
  return `${clock}.${fraction.padEnd(6, '0')}`;
}

/** The offset parse_datetime reads, in minutes east of UTC: "Z", "+HH", "+HHMM", "+HH:MM". */
function zoneMinutes(zone: string | undefined): number {
  if (zone === undefined || zone === 'Z') return 0;
  const minutes = Number(zone.slice(1, 3)) * 60 + (zone.length > 3 ? Number(zone.slice(-2)) : 0);
  return zone.startsWith('-') ? -minutes : minutes;
}
