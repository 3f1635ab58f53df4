/**
 * The admin's lists sort by column (`?o=`) and filter (the sidebar's list_filter
 * and field lookups in the query string) as Django 3.2's changelist does, over
 * real HTTP on SQLite and PostgreSQL: the same rows are put in Django's own
 * ChangeList (test/python/django_admin_list.py) on the same kind of database
 * (an in-memory SQLite one, or a schema of the same PostgreSQL), and each list
 * page must show what Django's shows for the same query string, or answer as it
 * does (`?e=1`, 400, or the 500 of a lookup it takes and its query fails on).
 * Where the databases differ, Django's do too (`contains` ignores case on SQLite
 * only; a date's text is what each holds). The users' dates are read in UTC,
 * Gredis's TIME_ZONE, which the script sets too; Gredis's PostgreSQL sessions
 * here are in another time zone (inAnotherTimeZone), where Django's are in UTC.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { fromDbBoolean, toDbBoolean } from '../src/db/values.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runPython } from './helpers/cli.js';
import { allDatabases, SHARED_POSTGRES_URL, type DatabaseBackend } from './helpers/databases.js';
import { Fixtures, useEmbeddedChat } from './helpers/deployment.js';
import { markupOf } from './helpers/markup.js';

const PASSWORD = 'correct horse';

type Kind = 'rooms' | 'users';

/** The rows given to Django's script (test/python/django_admin_list.py). */
interface DjangoRows {
  rooms: { id: number; title: string; staff_only: boolean }[];
  users: Record<string, unknown>[];
}

interface DjangoHeader {
  sorted: boolean;
  ascending: boolean;
  priority: number;
  primary: string;
  toggle: string;
  remove: string;
}

interface DjangoFilter {
  title: string;
  choices: { display: string; selected: boolean; query_string: string }[];
}

type DjangoAnswer =
  | 'e'
  | '400'
  | '500'
  | {
      ids: number[];
      result_count: number;
      full_result_count: number;
      headers: DjangoHeader[];
      filters: DjangoFilter[];
      clear: string | null;
    };

/** A link's parameters, decoded, in order: how two encodings of one query compare. */
function params(href: string): [string, string][] {
  return [...new URLSearchParams(href.replaceAll('&amp;', '&').replace(/^\?/, ''))];
}

/** What a list page shows, in the terms of DjangoAnswer. */
function shown(page: string, kind: Kind) {
  const ids = Array.from(
    page.matchAll(new RegExp(`<tr data-${kind.slice(0, -1)}-id="(\\d+)"`, 'g')),
    ([, id]) => Number(id),
  );
  const resultCount = Number(/<p class="result-count">\s*(\d+) /.exec(page)?.[1]);
  const full = /(\d+) results?\s*\(<a href="\?"\s*>(\d+) total/.exec(page);
  const headers = Array.from(
    page.matchAll(
      /<th\s+scope="col"\s+class="sortable ([^"]*)"(?:\s+aria-sort="\w+")?\s*>([\s\S]*?)<\/th>/g,
    ),
    ([, classes, cell]) => ({
      sorted: /\bsorted\b/.test(classes!),
      ascending: /\bascending\b/.test(classes!),
      priority: /<span class="sortpriority"[^>]*><span[^>]*>[^<]*<\/span>(\d+)</.exec(cell!)?.[1],
      primary: /<div class="text"><a href="([^"]*)"/.exec(cell!)?.[1],
      toggle: /class="toggle \w+" href="([^"]*)"/.exec(cell!)?.[1],
      remove: /class="sortremove" href="([^"]*)"/.exec(cell!)?.[1],
    }),
  );
  const filters = Array.from(
    page.matchAll(/<h3 id="filter-\w+">By ([^<]*)<\/h3>\s*<ul[^>]*>([\s\S]*?)<\/ul>/g),
    ([, title, items]) => ({
      title: title!,
      choices: Array.from(
        items!.matchAll(/<li( class="selected")?>\s*<a\s+href="([^"]*)"\s+title="([^"]*)"/g),
        ([, selected, href, display]) => ({ display, selected: Boolean(selected), href: href! }),
      ),
    }),
  );
  const clear = /<h3 id="changelist-filter-clear">\s*<a href="([^"]*)"/.exec(page)?.[1];
  return {
    ids,
    resultCount,
    fullCount: full ? Number(full[2]) : resultCount,
    headers,
    filters,
    clear,
  };
}

/**
 * `backend`, its PostgreSQL sessions in a time zone 3:30 behind UTC (2:30 in
 * summer) unless Gredis sets its own: Django's are in UTC, and what a
 * timestamptz reads as text, or which day it falls on, would follow the session's.
 */
function inAnotherTimeZone(backend: DatabaseBackend): DatabaseBackend {
  if (backend.name !== 'postgres') return backend;
  const setup = backend.setup.bind(backend);
  backend.setup = async () => {
    await setup();
    backend.url += `&options=${encodeURIComponent('-c TimeZone=America/St_Johns')}`;
  };
  return backend;
}

for (const database of allDatabases().map(inAnotherTimeZone)) {
  const test = suite(`admin list sorting and filters [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;

  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));

  async function signedIn(): Promise<BrowserlessClient> {
    const options = { password: PASSWORD, staff: true, superuser: true };
    return (await fixtures.signedIn(port, 'root', options)).client;
  }

  /** Rooms with titles that tie, differ only in case, hold LIKE's symbols; some staff-only. */
  async function someRooms(): Promise<void> {
    const titles = [
      'Lobby',
      'LOBBY two',
      'lobby',
      'Room 1',
      'Room 2',
      'Room 10',
      'a',
      'a',
      'B',
      'snake_case',
      '100% pure',
      'Zeta',
    ];
    await db
      .knex('chat_room')
      .insert(titles.map((title, i) => ({ title, staff_only: toDbBoolean(db, i % 3 === 1) })));
  }

  async function someUsers(): Promise<void> {
    const people = [
      ['zed', 'zed@example.org', 'Zed', '', true, false, true],
      ['amy', 'Amy@Example.ORG', '', 'Quinn', false, false, false],
      ['bob', 'bob@example.com', 'Bob', 'Quinn', true, true, true],
      ['cat', '', 'Cat', 'Adams', false, false, true],
      ['dan', 'dan@example.com', 'Dan', 'Adams', true, false, false],
    ] as const;
    for (const [username, email, firstName, lastName, isStaff, isSuperuser, isActive] of people)
      await fixtures.users.create({
        username,
        email,
        firstName,
        lastName,
        isStaff,
        isSuperuser,
        isActive,
      });
  }

  /**
   * When each user joined and last logged in, in UTC to the microsecond (as
   * Django's ISO 8601 for the comparison): the ends of years, months and days,
   * a leap day, a Saturday and a Sunday; none where they never logged in.
   */
  const DATES: Record<string, [string, string | null]> = {
    root: ['2026-11-29 05:00:00.000000', '2026-11-30 23:59:59.999999'],
    zed: ['2025-12-31 23:59:59.999999', null],
    amy: ['2026-01-01 00:00:00.000000', '2026-03-01 12:00:00.500000'],
    bob: ['2026-02-28 23:59:59.999999', '2026-03-01 00:00:00.000000'],
    cat: ['2024-02-29 12:00:00.000001', null],
    dan: ['2026-03-01 00:00:00.000000', '2026-01-01 00:00:00.000000'],
  };

  async function datedUsers(): Promise<void> {
    // On SQLite as Django's backend writes them (str() of the datetime): at a
    // whole second without the fraction, as Gredis now writes them too.
    const stored = (utc: string | null) =>
      utc === null ? utc : database.name === 'sqlite' ? utc.replace(/\.000000$/, '') : `${utc}+00`;
    for (const [username, [joined, login]] of Object.entries(DATES))
      await db
        .knex('auth_user')
        .where({ username })
        .update({ date_joined: stored(joined), last_login: stored(login) });
  }

  /** Rooms and dated users, and the rows as Django's script is to be given them. */
  async function rowsForDjango(): Promise<DjangoRows> {
    await someRooms();
    await someUsers();
    await datedUsers();
    const iso = (utc: string | null) => (utc === null ? null : `${utc.replace(' ', 'T')}+00:00`);
    const rooms = (await db.knex('chat_room').select('id', 'title', 'staff_only')).map((row) => ({
      id: Number(row.id),
      title: row.title as string,
      staff_only: fromDbBoolean(row.staff_only),
    }));
    const users = (
      await db
        .knex('auth_user')
        .select(
          'id',
          'username',
          'email',
          'first_name',
          'last_name',
          'is_staff',
          'is_superuser',
          'is_active',
        )
    ).map((row) => ({
      ...row,
      id: Number(row.id),
      is_staff: fromDbBoolean(row.is_staff),
      is_superuser: fromDbBoolean(row.is_superuser),
      is_active: fromDbBoolean(row.is_active),
      date_joined: iso(DATES[row.username as string]![0]),
      last_login: iso(DATES[row.username as string]![1]),
    }));
    return { rooms, users };
  }

  /**
   * Each query string's list page shows what Django's ChangeList shows for the
   * same rows and query string, or answers as it does.
   */
  async function assertAnswersAsDjango(
    client: BrowserlessClient,
    rows: DjangoRows,
    queries: readonly [Kind, string][],
  ): Promise<void> {
    const django = await runPython<DjangoAnswer[]>('django_admin_list.py', {
      ...rows,
      queries,
      postgres: database.name === 'postgres' ? SHARED_POSTGRES_URL : null,
    });
    for (const [i, [kind, query]] of queries.entries()) {
      const answer = django[i]!;
      const where = `/admin/${kind}/?${query}`;
      const res = await client.get(
        `/admin/${kind}/?${query.replaceAll(' ', '+').replaceAll("'", '%27')}`,
      );
      if (answer === 'e') {
        assert.is(res.status, 302, `${where}: Django's IncorrectLookupParameters`);
        assert.is(res.headers.location, `/admin/${kind}/?e=1`, where);
        continue;
      }
      if (answer === '400' || answer === '500') {
        assert.is(res.status, Number(answer), where);
        continue;
      }
      assert.is(res.status, 200, where);
      const page = shown(markupOf(res), kind);
      assert.equal(page.ids, answer.ids, `${where}: the rows, in order`);
      assert.is(page.resultCount, answer.result_count, `${where}: the count`);
      assert.is(page.fullCount, answer.full_result_count, `${where}: the total`);
      if (answer.ids.length > 0) {
        const sortedCount = answer.headers.filter((h) => h.sorted).length;
        assert.is(page.headers.length, answer.headers.length, `${where}: sortable columns`);
        answer.headers.forEach((header, column) => {
          const ours = page.headers[column]!;
          const what = `${where}: column ${column}`;
          assert.is(ours.sorted, header.sorted, `${what} sorted`);
          assert.equal(params(ours.primary!), params(header.primary), `${what} sorts first`);
          if (!header.sorted) return;
          assert.is(ours.ascending, header.ascending, `${what} ascending`);
          assert.equal(params(ours.toggle!), params(header.toggle), `${what} toggles`);
          assert.equal(params(ours.remove!), params(header.remove), `${what} is removed`);
          assert.is(
            ours.priority,
            sortedCount > 1 ? String(header.priority) : undefined,
            `${what} priority`,
          );
        });
      }
      assert.equal(
        page.filters.map((filter) => ({
          title: filter.title,
          choices: filter.choices.map(({ display, selected, href }) => ({
            display,
            selected,
            query: params(href),
          })),
        })),
        answer.filters.map((filter) => ({
          title: filter.title,
          choices: filter.choices.map(({ display, selected, query_string }) => ({
            display,
            selected,
            query: params(query_string),
          })),
        })),
        `${where}: the filters`,
      );
      assert.equal(
        page.clear === undefined ? null : params(page.clear),
        answer.clear === null ? null : params(answer.clear),
        `${where}: "Clear all filters"`,
      );
    }
  }

  test("every list answers as Django 3.2's ChangeList for the same rows and query string", async () => {
    const client = await signedIn();
    const rows = await rowsForDjango();
    const [a, b, c] = rows.rooms.map(({ id }) => id).sort((x, y) => x - y);
    const queries: [Kind, string][] = [
      ...[
        '',
        'o=0',
        'o=-0',
        'o=1',
        'o=-1',
        'o=2',
        'o=-2.1',
        'o=2.-0',
        'o=9.1',
        'o=x',
        'o=',
        'o=1-',
        'o=--1',
        'o=-1.%2B0',
        'o=1.1',
        'o=1.-1',
        'o=+2',
        'o=1_0.2',
        'staff_only__exact=1',
        'staff_only__exact=0',
        'staff_only=True',
        'staff_only=t',
        'staff_only=true',
        'staff_only__exact=yes',
        'staff_only__isnull=1',
        'staff_only__exact=1&staff_only__isnull=',
        'staff_only__isnull=0&staff_only__exact=0',
        'staff_only__gt=0',
        'staff_only__in=f,True',
        `id=${b}`,
        `id=+${b}`,
        `id__gt=${b}&o=0`,
        `id__in=${a},${c}`,
        `id__lte=${b}&staff_only__exact=0`,
        'id=abc',
        'id__in=1,',
        'id=1.0',
        'id__contains=x',
        'title=Lobby',
        'title__exact=lobby',
        'title__iexact=lobby',
        'title__icontains=obb',
        'title__istartswith=lob',
        'title__iendswith=TWO',
        'title__startswith=Room',
        'title__endswith=1',
        'title__contains=_',
        'title__contains=%25',
        'title__gt=M',
        'title__lte=Lobby&o=-1',
        'title__in=Lobby,snake_case',
        'title__in=',
        'title__isnull=x',
        'title__isnull=false',
        'title__year=1',
        'title__range=AZ',
        'title__range=az&o=0',
        'staff_only__range=01',
        'id__range=19',
        'id__range=1,2',
        'id__range=1',
        'id__range=x1',
        'id__range=',
        'title__lower=a',
        'titel=x',
        'title__exact__exact=a',
        "title=x' OR 1=1 --",
        'q=room&staff_only__exact=1&o=-1',
        'q=lobby&o=0&staff_only__exact=0',
        'all=&o=2&staff_only__exact=0',
        // `_popup` is left out: Django's pop-up list has no actions, so its
        // `o` counts from the first real column, a list this admin has not.
        'ot=asc&o=1',
        'o=3.0.-0',
      ].map((query): [Kind, string] => ['rooms', query]),
      ...[
        '',
        'o=0',
        'o=4',
        'o=6',
        'o=-4.1',
        'o=2',
        'o=3.-2',
        'o=5',
        'is_staff__exact=1',
        'is_superuser__exact=0',
        'is_active__exact=0&is_staff__exact=1',
        'is_active=False',
        'email__iendswith=EXAMPLE.ORG',
        'first_name=',
        'last_name__isnull=0&o=3',
        'username__in=amy,zed',
        'q=a&is_staff__exact=1&o=1',
        'q=example.com&is_active__exact=1',
        'password=x',
        'password__startswith=pbkdf2',
        // Dates, read in UTC (TIME_ZONE): 2026-01-01 00:00 UTC is 2025 in Chicago.
        'date_joined__year=2026',
        'date_joined__year=2025',
        'date_joined__year= +2024%0A',
        'date_joined__year__gte=2026&o=1',
        'date_joined__year__lt=2026',
        'date_joined__year__in=2024,2025',
        'date_joined__year__range=45',
        'date_joined__year=abc',
        'date_joined__year=',
        'date_joined__year=2_026',
        'date_joined__month=2',
        'date_joined__month=03',
        'date_joined__month__in=1,12',
        'date_joined__month__range=13',
        'date_joined__month__gt=12',
        'date_joined__day=29',
        'date_joined__day__lte=1&o=-1',
        'date_joined__week_day=7',
        'date_joined__week_day=1',
        'date_joined__week_day=x',
        // Django 3.2 compares iso_year by the calendar year's bounds, but in `in`.
        'date_joined__iso_year=2026',
        'date_joined__iso_year__in=2026',
        'date_joined__iso_year__lt=2026',
        'date_joined__week=1',
        'date_joined__week__in=9,48',
        'date_joined__iso_week_day=6',
        'date_joined__iso_week_day__gte=6',
        'date_joined__quarter=1',
        'date_joined__quarter__range=14',
        'date_joined__hour=23',
        'date_joined__hour__lt=6',
        'date_joined__hour=x',
        'date_joined__minute=59',
        // Whole seconds: PostgreSQL's (and Django's there) keep the fraction.
        'date_joined__second__lt=1',
        'last_login__second__gte=59',
        'last_login__hour__isnull=1',
        'date_joined__date=2026-01-01',
        'date_joined__date=2026-1-1',
        'date_joined__date=2026-02-28%0A',
        'date_joined__date=2026-02-29',
        'date_joined__date=2026-01-01T00:00',
        'date_joined__date__gte=2026-02-28',
        'date_joined__date__in=2024-02-29,2026-03-01',
        'date_joined__date__range=ab',
        'last_login__date__isnull=1',
        'last_login__year__isnull=0',
        'last_login__month__isnull=',
        'date_joined__gte=2026-01-01',
        'date_joined__lt=2026-01-01',
        'date_joined=2026-01-01',
        'date_joined__lte=2026-01-01 00:00:00.000000',
        'date_joined__in=2026-03-01T00:00Z,2024-02-29 12:00:00.000001',
        'last_login__gt=2026-03-01',
        'date_joined__gt=2026-02-28 23:59:59.999998',
        'date_joined__gte=2026-02-28 23:59:59,9999999',
        'date_joined__lt=2024-02-29T12:00:00.000002Z',
        'last_login=2026-03-01T13:00:00.5%2B01:00',
        'last_login=2026-03-01T11:30:00.5-0030',
        'last_login__lte=2026-03-01T01:00%2B01',
        'last_login__in=2026-01-01,2026-03-01 00:00',
        'last_login__in=2026-01-01,x',
        'date_joined__gte=2026-01-01T24:00',
        'date_joined__gte=2026-01-01T23:60',
        'date_joined__gte=2026-01-01 00:00%2B24:00',
        'date_joined__gte=2026-01-01 00:00 %2B01:00',
        'date_joined__gte=2026-01-01t00:00',
        'date_joined__gte=2026-01-01.',
        'date_joined__gt=',
        'date_joined__range=2026-01-01,2026-12-31',
        'date_joined__contains__year=2026',
        // Django takes these, then its query fails: its 500.
        'date_joined__year=0',
        'date_joined__iso_year=0',
        'date_joined__year__lte=10000',
        // Instants outside years 1-9999 once in UTC: Django's SQLite backend
        // cannot write them (its 500); PostgreSQL holds them, and Django's query
        // there answers.
        'date_joined__gte=0001-01-01T00:00%2B01:00',
        'last_login__lt=9999-12-31T23:00-01:00',
        'date_joined__in=2026-01-01,9999-12-31T23:00-01:00',
        'date_joined__lt=0001-01-01T00:30%2B00:30',
        'date_joined__range=',
        'date_joined__date__range=',
        'first_name__range=',
        'username__range=a,z',
        // ...unless another is refused first: ?e=1.
        'date_joined__year=0&id=x',
        'id__range=x1&date_joined__year=0',
        // A range's values are its value's characters, as Django's Range takes a string.
        'username__range=az',
        'username__range=bd&o=-0',
        'is_staff__range=01',
        'is_staff__range=tf',
        'is_active__range=ty',
      ].map((query): [Kind, string] => ['users', query]),
    ];
    await assertAnswersAsDjango(client, rows, queries);
  });

  test("regex lookups, `__time` and a transform of `__date` or `__time` answer as Django 3.2's ChangeList", async () => {
    const client = await signedIn();
    const rows = await rowsForDjango();
    // Patterns that Python's re (Django's on SQLite), PostgreSQL's and
    // RE2 (Gredis's on SQLite) all read alike.
    const rooms = [
      'title__regex=^Room [0-9]%2B$',
      'title__regex=^L',
      'title__iregex=^lobby',
      'title__iregex=O{2}|^b$',
      'title__regex=(?i)^lobby$',
      'title__regex=_|%25',
      'title__regex=%5Cd{2}',
      'title__regex=',
      'id__regex=^[0-9]%2B$',
      'title__regex=^Room&staff_only__exact=0',
      'title__regex__exact=x',
      // A pattern the database cannot compile fails the query: Django's 500...
      'title__regex=(',
      'title__iregex=[',
      // ...unless another lookup is refused first.
      'title__regex=(&id=x',
    ];
    const users = [
      'username__regex=^(amy|bob)$',
      'email__iregex=EXAMPLE%5C.org$',
      'email__regex=^$',
      'first_name__regex=^[A-Z]&o=-1',
      'username__regex=[',
      // Times of day, in UTC, to the microsecond.
      'date_joined__time=00:00',
      'date_joined__time=23:59:59.999999',
      'date_joined__time__gt=23:59:59.9999989',
      'date_joined__time__gte=12:00&o=-1',
      'date_joined__time__lt=12:00:00,000001',
      'date_joined__time=5:0',
      'last_login__time=12:00:00.5',
      'last_login__time__in=00:00,23:59:59.999999',
      'last_login__time__isnull=1',
      // parse_time reads from the start, and no further than a time.
      'date_joined__time=05:00%2B01:00',
      'date_joined__time=05:00x',
      'date_joined__time= 05:00',
      'date_joined__time=24:00',
      'date_joined__time=12',
      'date_joined__time__in=00:00,x',
      'date_joined__time__range=12',
      'last_login__time__range=',
      // A transform of the day or of the time of day, then a comparison.
      'date_joined__date__lt=2026-01-01',
      'date_joined__date__year=2026',
      'date_joined__date__year__gte=2026&o=1',
      'date_joined__date__year__in=2024,2025',
      'date_joined__date__month__range=23',
      'date_joined__date__week_day=7',
      'date_joined__date__iso_year__lt=2026',
      'date_joined__date__quarter=1',
      'date_joined__date__day__lte=1',
      'date_joined__time__hour=23',
      'date_joined__time__hour__gte=12',
      'date_joined__time__minute__in=0,59',
      'date_joined__time__second__lt=1',
      'last_login__time__second__gte=59',
      'last_login__date__year__isnull=1',
      'last_login__time__hour__isnull=0',
      'date_joined__time__hour=x',
      // Transforms the output has not, or a lookup not last.
      'date_joined__date__hour=1',
      'date_joined__date__date=2026-01-01',
      'date_joined__date__time=00:00',
      'date_joined__time__date=2026-01-01',
      'date_joined__time__year=2026',
      'date_joined__year__month=1',
      'date_joined__year__exact__gte=1',
      'date_joined__date__year__exact__exact=2026',
      // Django takes these, then its query fails: its 500.
      'date_joined__date__year=0',
      'date_joined__date__year__lte=10000',
    ];
    await assertAnswersAsDjango(client, rows, [
      ...rooms.map((query): [Kind, string] => ['rooms', query]),
      ...users.map((query): [Kind, string] => ['users', query]),
    ]);
  });

  test("the textual and regex lookups on a date, or on a transform of one, match its text on each database as Django 3.2's", async () => {
    const client = await signedIn();
    const rows = await rowsForDjango();
    // SQLite's text is the stored one ("2026-03-01 12:00:00.500000"), or a
    // transform's number, day or Python's isoformat() of its time of day
    // ("12:00:00.500000", "00:00:00"); PostgreSQL's is `::text`, a timestamptz's
    // in Django's UTC session ("2026-03-01 12:00:00.5+00"), a `second` with its
    // fraction ("0.500000"), a time of day trimmed ("12:00:00.5").
    const users = [
      'date_joined__startswith=2026-0',
      'date_joined__startswith=2026-01-01 00',
      'date_joined__contains=-02-2',
      'date_joined__icontains=23:59:59',
      'date_joined__contains=',
      'date_joined__contains=T',
      'date_joined__contains=_',
      'date_joined__endswith=1',
      'date_joined__endswith=%2B00',
      'date_joined__iendswith=%2B00&o=-2',
      'date_joined__iexact=2026-01-01 00:00:00%2B00',
      'date_joined__iexact=2024-02-29 12:00:00.000001',
      'date_joined__regex=^2026-0[13]',
      // 2026-01-01 00:00 UTC is 2025 in a session's time zone behind UTC.
      'date_joined__regex=^2025',
      'date_joined__iregex=:59%5C.9{6}',
      'last_login__contains=.5',
      'last_login__regex=5%5C%2B00$',
      'last_login__regex=.',
      'last_login__startswith=',
      // Transforms' values as text.
      'date_joined__year__contains=24',
      'date_joined__year__regex=^202[45]$',
      'date_joined__month__startswith=1',
      'date_joined__day__endswith=9',
      'date_joined__iso_week_day__regex=^[67]$',
      'date_joined__iso_year__contains=2026',
      'date_joined__week__regex=^9$',
      'date_joined__quarter__iexact=4',
      'date_joined__hour__contains=2',
      'date_joined__minute__regex=^59$',
      'date_joined__second__contains=59',
      'date_joined__second__regex=%5C.',
      'last_login__second__startswith=0',
      'date_joined__date__contains=-02-2',
      'date_joined__date__regex=^2026-0[13]-01$',
      'date_joined__time__regex=^00:00:00$',
      'date_joined__time__endswith=.000001',
      'date_joined__time__iexact=05:00:00',
      'last_login__time__contains=.5',
      'last_login__time__endswith=00',
      'date_joined__date__year__contains=26',
      'date_joined__time__second__regex=^59',
      'date_joined__time__hour__iregex=^0?5$',
      // Django's PostgreSQL backend casts only the 1 of `EXTRACT('dow' …) + 1`
      // to text, which PostgreSQL refuses: its 500 there; SQLite's answers.
      'date_joined__week_day__contains=1',
      'date_joined__date__week_day__regex=7',
      // A pattern the database cannot compile: the 500.
      'date_joined__regex=(',
      'date_joined__year__iregex=[',
      // A lookup not last, or a transform the value has not.
      'date_joined__regex__exact=x',
      'date_joined__date__hour__contains=1',
      'date_joined__time__year__regex=1',
    ];
    await assertAnswersAsDjango(
      client,
      rows,
      users.map((query): [Kind, string] => ['users', query]),
    );
  });

  test('a NUL in the value of a textual or regex lookup on a date is refused with ?e=1, as any NUL, which PostgreSQL cannot take bound', async () => {
    const client = await signedIn();
    await someUsers();
    for (const query of [
      'date_joined__contains=%00',
      'date_joined__regex=2026%00',
      'last_login__iexact=a%00b',
      'date_joined__year__istartswith=20%00',
      'date_joined__time__iregex=%00|.',
    ]) {
      const res = await client.get(`/admin/users/?${query}`);
      assert.is(res.status, 302, query);
      assert.is(res.headers.location, '/admin/users/?e=1', query);
    }
  });

  test('`__time` finds a time of day stored without its fraction, as Django writes one whose microseconds are 0', async () => {
    const client = await signedIn();
    await someUsers();
    // Django's SQLite backend stores str(datetime): no ".000000" at a whole second.
    await db
      .knex('auth_user')
      .where({ username: 'amy' })
      .update({
        date_joined: database.name === 'sqlite' ? '2026-01-01 12:00:00' : '2026-01-01 12:00:00+00',
      });
    const listed = async (query: string) =>
      shown(markupOf(await client.get(`/admin/users/?username=amy&${query}`)), 'users').ids.length;
    for (const query of [
      'date_joined__time=12:00',
      'date_joined__time__gte=12:00',
      'date_joined__time__in=12:00:00.000000,13:00',
      'date_joined__time__hour=12',
    ])
      assert.is(await listed(query), 1, query);
    assert.is(await listed('date_joined__time__gt=12:00'), 0, 'not after 12:00');
  });

  /** Rooms "Room 001" … "Room <count>", every tenth staff-only. */
  async function manyRooms(count: number): Promise<void> {
    const rows = Array.from({ length: count }, (_, i) => ({
      title: `Room ${String(i + 1).padStart(3, '0')}`,
      staff_only: toDbBoolean(db, (i + 1) % 10 === 0),
    }));
    await db.knex.batchInsert('chat_room', rows, 200);
  }

  /** The page links' targets, from the pages' landmark. */
  function pageLinks(page: string): string[] {
    const nav = /<nav class="paginator"[^>]*>([\s\S]*?)<\/nav>/.exec(page)?.[1] ?? '';
    return Array.from(nav.matchAll(/href="([^"]*)"/g), ([, href]) =>
      href!.replaceAll('&amp;', '&'),
    );
  }

  test("a pattern a backtracking engine takes ages over, `(a+)+$` on a title of 40 a's and a b, is answered at once, finding only what matches", async () => {
    const client = await signedIn();
    await db.knex('chat_room').insert([
      { title: `${'a'.repeat(40)}b`, staff_only: toDbBoolean(db, false) },
      { title: 'aaa', staff_only: toDbBoolean(db, false) },
    ]);
    // A backtracking engine (JavaScript's RegExp, Python's re) would try 2^40 ways
    // to split the a's before giving up on this title, holding the worker's thread
    // for hours; RE2 (on SQLite) and PostgreSQL's engine do not backtrack so.
    const started = performance.now();
    const page = await client.get('/admin/rooms/?title__regex=(a%2B)%2B$');
    assert.is(page.status, 200);
    const [matching] = await db.knex('chat_room').select('id').where('title', 'aaa');
    assert.equal(shown(markupOf(page), 'rooms').ids, [Number(matching.id)]);
    assert.ok(performance.now() - started < 5_000, 'answered in time');
  });

  test('sorting is done by the database and is total: the pages of a sort by a flag are the whole list once, newest first among equals; page links keep it', async () => {
    const client = await signedIn();
    await manyRooms(250);
    const expected = (
      await db.knex('chat_room').select('id', 'staff_only').orderBy('id', 'desc')
    ).sort((x, y) => Number(fromDbBoolean(y.staff_only)) - Number(fromDbBoolean(x.staff_only)));
    const listed: number[] = [];
    for (const p of [1, 2, 3]) {
      const page = markupOf(await client.get(`/admin/rooms/?o=-3&p=${p}`));
      listed.push(...shown(page, 'rooms').ids);
      if (p === 1) assert.equal(pageLinks(page), ['?o=-3&p=2', '?o=-3&p=3']);
    }
    assert.equal(
      listed,
      expected.map(({ id }) => Number(id)),
      'staff-only first, then by id descending',
    );
    const byTitle = shown(markupOf(await client.get('/admin/rooms/?o=-2&p=3')), 'rooms');
    assert.is(byTitle.ids.length, 50);
    const [first] = await db.knex('chat_room').select('id').where('title', 'Room 050');
    assert.is(byTitle.ids[0], Number(first.id), 'title descending: page 3 starts at Room 050');
  });

  test('filters narrow the count and the pages: "N results (M total)", Show all, the search box and the links to a room keep them and the sort, and saving leads back there', async () => {
    const client = await signedIn();
    await manyRooms(250);
    const filters = 'o=-2&staff_only__exact=0&title__lt=Room+200';
    const page = markupOf(await client.get(`/admin/rooms/?${filters}`));
    // Room 001-199 without every tenth: 180, more than a page and no more than 200.
    assert.match(page, /180 results\s*\(<a href="\?"\s*>250 total<\/a\s*>\)/);
    assert.match(
      page,
      /<p class="result-count">\s*180 rooms\s*<a href="\?all=&amp;o=-2&amp;staff_only__exact=0&amp;title__lt=Room\+200">Show all<\/a>/,
    );
    assert.equal(pageLinks(page), [`?o=-2&p=2&staff_only__exact=0&title__lt=Room+200`]);
    assert.match(page, /<input type="hidden" name="o" value="-2">/);
    assert.match(page, /<input type="hidden" name="staff_only__exact" value="0">/);
    assert.match(page, /<input type="hidden" name="title__lt" value="Room 200">/);
    const all = markupOf(await client.get(`/admin/rooms/?all=&${filters}`));
    assert.is(shown(all, 'rooms').ids.length, 180, 'Show all shows the 180');
    const second = markupOf(await client.get(`/admin/rooms/?${filters}&p=2`));
    const titles = Array.from(
      second.matchAll(/<th scope="row">\s*<a [^>]*>([^<]*)</g),
      ([, t]) => t,
    );
    assert.is(titles.length, 80);
    assert.is(titles[0], 'Room 088', 'descending by title, staff-only rooms left out');
    // The links to a room carry the list's query, sorted by name as Django's links are.
    const [room] = await db.knex('chat_room').select('id').where('title', 'Room 088');
    const carried = `_changelist_filters=${encodeURIComponent(`o=-2&p=2&staff_only__exact=0&title__lt=Room+200`)}`;
    assert.ok(second.includes(`href="/admin/rooms/${room.id}/?${carried}"`), carried);
    await client.get(`/admin/rooms/${room.id}/?${carried}`);
    const saved = await client.post(`/admin/rooms/${room.id}/?${carried}`, { title: 'Room 088' });
    assert.is(saved.status, 303);
    assert.is(
      saved.headers.location,
      `/admin/rooms/?o=-2&p=2&staff_only__exact=0&title__lt=Room+200`,
    );
    // A NUL can be in no title, and PostgreSQL cannot take one bound: Django's ?e=1 answer.
    const nul = await client.get('/admin/rooms/?title=Room%00');
    assert.is(nul.headers.location, '/admin/rooms/?e=1');
  });

  test("the headers and the filter sidebar are Django's, readable without its icons", async () => {
    const client = await signedIn();
    await someUsers();
    const users = markupOf(await client.get('/admin/users/'));
    assert.match(
      users,
      /<th\s+scope="col"\s+class="sortable column-username sorted ascending"\s+aria-sort="ascending"\s*>\s*<div class="text"><a href="\?o=-1">Username<\/a><\/div>\s*<div class="sortoptions">\s*<a class="sortremove" href="\?o=" title="Remove from sorting"\s*><span class="visually-hidden">Remove Username from sorting<\/span><\/a\s*>\s*<a class="toggle ascending" href="\?o=-1" title="Toggle sorting"\s*><span class="visually-hidden"\s*>Sorted ascending; sort Username descending<\/span\s*><\/a\s*>\s*<\/div>/,
    );
    assert.match(
      users,
      /<th\s+scope="col"\s+class="sortable column-is_staff"\s*>\s*<div class="text"><a href="\?o=5.1">Staff status<\/a><\/div>/,
    );
    assert.match(
      users,
      /<nav id="changelist-filter" aria-labelledby="changelist-filter-heading">\s*<h2 id="changelist-filter-heading">Filter<\/h2>/,
    );
    assert.equal(
      Array.from(users.matchAll(/<h3 id="filter-\w+">([^<]*)<\/h3>/g), ([, title]) => title),
      ['By staff status', 'By superuser status', 'By active'],
    );
    assert.not.match(users, /Clear all filters/);
    assert.match(
      users,
      /<li class="selected">\s*<a\s+href="\?is_staff__exact=1&amp;o=-1"|<li class="selected">\s*<a\s+href="\?"\s+title="All"\s+aria-current="true"/,
    );
    const staff = markupOf(await client.get('/admin/users/?is_staff__exact=1&o=5.1'));
    assert.match(
      staff,
      /<li class="selected">\s*<a\s+href="\?is_staff__exact=1&amp;o=5.1"\s+title="Yes"\s+aria-current="true"\s*>Yes<\/a\s*>/,
    );
    assert.match(
      staff,
      /<h3 id="changelist-filter-clear">\s*<a href="\?o=5.1"><span aria-hidden="true">✖ <\/span>Clear all filters<\/a>/,
    );
    assert.match(
      staff,
      /<span class="sortpriority" title="Sorting priority: 2"\s*><span class="visually-hidden">Sorting priority: <\/span>2<\/span/,
    );
    assert.match(staff, /4 results\s*\(<a href="\?"\s*>6 total<\/a/, 'root, zed, bob and dan');
  });

  test.run();
}
