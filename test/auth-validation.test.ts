/**
 * Password, email and username-length validation, checked against Django itself
 * (Debian's python3-django run by /usr/bin/python3): the same messages, in the
 * same order, for the same passwords and users; the same emails accepted; the
 * same usernames too long, with the same count.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { usernameLengthError, validateUsername } from '../src/auth/users.js';
import { emailProblem, passwordProblems, type PasswordOwner } from '../src/auth/validation.js';
import { runPython } from './helpers/cli.js';

const test = suite('password and email validation');

interface DjangoUser {
  username: string;
  email: string;
  first_name: string;
  last_name: string;
}

const USERS: (PasswordOwner | undefined)[] = [
  undefined,
  {
    username: 'alice',
    email: 'alice.liddell@example.com',
    firstName: 'Alice',
    lastName: 'Liddell',
  },
  { username: 'bob', email: '' },
  { username: 'x', email: 'x@y.io' },
  { username: 'Zoë_Ünïcödé', email: 'zoe@exämple.de', firstName: 'Zoë', lastName: '' },
  { username: 'jd', email: '', firstName: 'Jonathan', lastName: 'Doe' },
];

const PASSWORDS = [
  '',
  'x',
  'short',
  '1234567',
  '12345678',
  '١٢٣٤٥٦٧٨٩', // Arabic-Indic digits: numeric too
  'alice',
  'alice2024',
  'ecila123',
  'liddell!',
  'Liddell Alice',
  'example.com',
  'correct horse battery staple',
  'bobbobbobbobbob',
  'b',
  'zoë_ünïcödé',
  'jonathan1',
  'doe-doe-doe',
  'a much longer passphrase that mentions bob once',
  'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  '🔑🔑🔑🔑🔑🔑🔑🔑',
  '²²²²²²²²', // digits to Python's isdigit, though not decimal
  '①②③④⑤⑥⑦⑧',
  '\u{1E4F0}\u{1E4F1}\u{1E4F2}\u{1E4F3}\u{1E4F4}\u{1E4F5}\u{1E4F6}\u{1E4F7}', // decimal since Unicode 15, not in Python 3.11's 14
];

function toDjango(owner: PasswordOwner | undefined): DjangoUser | null {
  if (!owner) return null;
  return {
    username: owner.username,
    email: owner.email ?? '',
    first_name: owner.firstName ?? '',
    last_name: owner.lastName ?? '',
  };
}

test("the password validators give Django's messages, in Django's order", async () => {
  const cases = USERS.flatMap((user) => PASSWORDS.map((password) => ({ password, user })));
  const django = await runPython<string[][]>(
    'django_validation.py',
    cases.map(({ password, user }) => ({ password, user: toDjango(user) })),
  );
  let refused = 0;
  for (const [i, { password, user }] of cases.entries()) {
    const ours = passwordProblems(password, user);
    assert.equal(ours, django[i], `${JSON.stringify(password)} for ${user?.username ?? 'no user'}`);
    if (ours.length > 0) refused++;
  }
  // The cases must exercise every rule, not pass because everything passes.
  const all = django.flat();
  for (const rule of [
    /too similar to the username/,
    /too similar to the email/,
    /too similar to the first name/,
    /too short/,
    /entirely numeric/,
  ])
    assert.ok(
      all.some((m) => rule.test(m)),
      `a case for ${rule}`,
    );
  assert.ok(refused > 0 && refused < cases.length);
});

test("emails: the same accepted and refused as Django's EmailValidator", async () => {
  const emails = [
    'a@b.co',
    'first.last@example.com',
    'x+tag@sub.example.org',
    'zoë@exämple.de',
    'zoe@exämple.de',
    'ZOE@EXAMPLE.COM',
    'root@localhost',
    'not-an-email',
    '@example.com',
    'a@b',
    'a@@b.co',
    'a b@c.de',
    'a.@b.co',
    'a@-b.co',
    'a@b.xn--p1ai',
    'x@пример.рф',
    'a@b.c1',
    'a@b.123',
    'a@[127.0.0.1]',
    'a@[::1]',
    'a@[999.1.1.1]',
    'a@😀.com',
    'a@b.co-',
    'a@LOCALHOST',
    '"quoted name"@example.com',
    'a\n@example.com',
    'a@example.com\n',
    'x@example.com/<b>x', // a URL host parser would stop at "/"
    'a@example.com?x',
    'a@example.com#x',
    'a@ex%61mple.com',
    'a@2130706442', // an IPv4 address to a URL host parser
    'a@exam\uFEFFple.com',
    'ſ@example.com', // Python's IGNORECASE: [A-Z] matches ſ and K
    '\u212A@example.com',
  ];
  const django = await runPython<boolean[]>(
    'django_validation.py',
    emails.map((email) => ({ email })),
  );
  for (const [i, email] of emails.entries())
    assert.is(emailProblem(email) === undefined, django[i], email);
  // Past 254 characters the field refuses what the validator would pass (Django's
  // EmailField max_length): one message for both here.
  assert.is(emailProblem(`${'e'.repeat(250)}@x.org`), 'Enter a valid email address.');
});

test("a username's length: Django's verdict and count, NFKC only for 150 code points or fewer", async () => {
  const greek = 'α\u0313\u0300\u0345'; // 4 code points, 1 after NFKC ("ᾂ")
  const hangul = '\u1100\u1161\u11a8'; // 3 jamo, 1 syllable after NFKC ("각")
  const names = [
    'x'.repeat(150),
    'x'.repeat(151),
    '😀'.repeat(150), // 300 units, 150 code points
    '😀'.repeat(151),
    '\ufb00'.repeat(75), // "ﬀ" is "ff": 150 after NFKC
    '\ufb00'.repeat(76), // 152 after NFKC
    '\ufdfa'.repeat(8), // 18 characters each: 144
    '\ufdfa'.repeat(9),
    hangul.repeat(50), // 150 code points, 50 after NFKC
    hangul.repeat(51), // 153 sent, 51 after NFKC: Django refuses it unnormalised, "it has 153"
    greek.repeat(38), // 152 sent, 38 after NFKC
    'x'.repeat(1 << 20),
    '😀'.repeat(1 << 19),
    '\ufb00'.repeat(1 << 20),
  ];
  const django = await runPython<(string | null)[]>('django_username.py', names);
  for (const [i, name] of names.entries()) {
    const what = `${name.slice(0, 12)}… (${name.length} units)`;
    assert.is(usernameLengthError(name) ?? null, django[i], what);
    if (django[i])
      assert.throws(
        () => validateUsername(name),
        (e: Error) => e.message === django[i],
      );
  }
  // Both ways, and the composed ones refused by what was sent.
  assert.ok(django.includes(null));
  assert.match(django[9] ?? '', /\(it has 153\)/);
});

test.run();
