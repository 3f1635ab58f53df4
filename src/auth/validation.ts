import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { codePointLength } from '../code-points.js';

/**
 * What Django checks in a new password and an email address, with its messages.
 * Passwords: the validators of Django's default AUTH_PASSWORD_VALIDATORS but the
 * common-passwords list (20 000 entries Gredis does not ship). Like Django, the
 * admin's forms and the interactive commands apply them; `createsuperuser
 * --noinput` does not.
 */

/** MinimumLengthValidator's default. */
export const MIN_PASSWORD_LENGTH = 8;
/** UserAttributeSimilarityValidator's default. */
const MAX_SIMILARITY = 0.7;

/**
 * Python's str.isdigit, which NumericPasswordValidator uses: the code points
 * (hex ranges) Python 3.11's Unicode 14.0 data gives a digit value, decimal or
 * not (superscripts, circled digits, …). Spelled out rather than \p{Nd}, which
 * follows Node's newer Unicode and also lacks the non-decimal digits.
 */
const DIGIT_RANGES = `
30-39 B2-B3 B9 660-669 6F0-6F9 7C0-7C9 966-96F 9E6-9EF A66-A6F AE6-AEF B66-B6F
BE6-BEF C66-C6F CE6-CEF D66-D6F DE6-DEF E50-E59 ED0-ED9 F20-F29 1040-1049 1090-1099
1369-1371 17E0-17E9 1810-1819 1946-194F 19D0-19DA 1A80-1A89 1A90-1A99 1B50-1B59
1BB0-1BB9 1C40-1C49 1C50-1C59 2070 2074-2079 2080-2089 2460-2468 2474-247C 2488-2490
24EA 24F5-24FD 24FF 2776-277E 2780-2788 278A-2792 A620-A629 A8D0-A8D9 A900-A909
A9D0-A9D9 A9F0-A9F9 AA50-AA59 ABF0-ABF9 FF10-FF19 104A0-104A9 10A40-10A43
10D30-10D39 10E60-10E68 11052-1105A 11066-1106F 110F0-110F9 11136-1113F 111D0-111D9
112F0-112F9 11450-11459 114D0-114D9 11650-11659 116C0-116C9 11730-11739 118E0-118E9
11950-11959 11C50-11C59 11D50-11D59 11DA0-11DA9 16A60-16A69 16AC0-16AC9 16B50-16B59
1D7CE-1D7FF 1E140-1E149 1E2F0-1E2F9 1E950-1E959 1F100-1F10A 1FBF0-1FBF9
`;
const DIGITS_ONLY = new RegExp(
  `^[${DIGIT_RANGES.trim()
    .split(/\s+/)
    .map((range) => range.replace(/[0-9A-F]+/g, (hex) => `\\u{${hex}}`))
    .join('')}]+$`,
  'u',
);

/** The user a password is for: what the similarity check compares it with. */
export interface PasswordOwner {
  username: string;
  email?: string;
  firstName?: string;
  lastName?: string;
}

/** Django's names for the fields (the "verbose names" in its messages). */
const OWNER_FIELDS = [
  ['username', 'username'],
  ['firstName', 'first name'],
  ['lastName', 'last name'],
  ['email', 'email address'],
] as const;

/** Every reason Django would refuse `password` for `owner`, in Django's order; [] if none. */
export function passwordProblems(password: string, owner?: PasswordOwner): string[] {
  const problems: string[] = [];
  const similarTo = owner && similarField(password, owner);
  if (similarTo) problems.push(`The password is too similar to the ${similarTo}.`);
  if (codePointLength(password) < MIN_PASSWORD_LENGTH) {
    problems.push(
      `This password is too short. It must contain at least ${MIN_PASSWORD_LENGTH} characters.`,
    );
  }
  if (DIGITS_ONLY.test(password)) problems.push('This password is entirely numeric.');
  return problems;
}

/**
 * UserAttributeSimilarityValidator: the first field whose value, or a word of it,
 * shares too many characters with the password (difflib's quick_ratio ≥ 0.7),
 * skipping words much shorter than the password.
 */
function similarField(password: string, owner: PasswordOwner): string | undefined {
  const lowered = password.toLowerCase();
  for (const [key, name] of OWNER_FIELDS) {
    const value = owner[key];
    if (!value) continue;
    const whole = value.toLowerCase();
    for (const part of [...whole.split(/[^\p{L}\p{N}_]+/u), whole]) {
      if (tooShortToCompare(lowered, part)) continue;
      if (quickRatio(lowered, part) >= MAX_SIMILARITY) return name;
    }
  }
  return undefined;
}

/** Django's exceeds_maximum_length_ratio: a long password is not "similar" to a short word. */
function tooShortToCompare(password: string, value: string): boolean {
  const passwordLength = codePointLength(password);
  const valueLength = codePointLength(value);
  return passwordLength >= 10 * valueLength && valueLength < (MAX_SIMILARITY / 2) * passwordLength;
}

/** difflib.SequenceMatcher(a, b).quick_ratio(): 2 × the characters a and b share, over both lengths. */
function quickRatio(a: string, b: string): number {
  const available = new Map<string, number>();
  for (const char of b) available.set(char, (available.get(char) ?? 0) + 1);
  let matches = 0;
  for (const char of a) {
    const left = available.get(char) ?? 0;
    if (left > 0) matches++;
    available.set(char, left - 1);
  }
  const length = codePointLength(a) + codePointLength(b);
  return length === 0 ? 1 : (2 * matches) / length;
}

// Django 3.2's EmailValidator, regex for regex: a dot-atom or quoted local part;
// a domain of LDH labels (tried again as IDNA when it fails), an address literal,
// or exactly "localhost".
// Python's re.IGNORECASE also lets [A-Z] match ſ, K (Kelvin), ı and İ; JavaScript's
// /i does not, so they are added to the classes that have A-Z.
const EMAIL_USER =
  // eslint-disable-next-line no-control-regex -- a quoted local part may hold them, as in Django
  /^(?:[-!#$%&'*+/=?^_`{}|~0-9A-Z\u017f\u212a\u0131\u0130]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z\u017f\u212a\u0131\u0130]+)*|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")$/i;
const EMAIL_DOMAIN = /^(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z0-9-]{2,63}(?<!-)$/i;
const EMAIL_LITERAL = /^\[([A-F0-9:.]+)\]$/i;
/** Django's field (EmailField's max_length), checked here too: one message for both. */
export const EMAIL_MAX_LENGTH = 254;

/** Django's EmailValidator (and its field's length): blank is allowed, otherwise local@domain. */
export function emailProblem(email: string): string | undefined {
  if (email === '') return undefined;
  const at = email.lastIndexOf('@');
  const valid =
    at > 0 &&
    codePointLength(email) <= EMAIL_MAX_LENGTH &&
    EMAIL_USER.test(email.slice(0, at)) &&
    validEmailDomain(email.slice(at + 1));
  return valid ? undefined : 'Enter a valid email address.';
}

function validEmailDomain(domain: string): boolean {
  if (domain === 'localhost' || validDomainPart(domain)) return true;
  // An international domain, as its ASCII (punycode) form. Python's IDNA codec
  // changes nothing in ASCII, so an ASCII domain gets no second try; nor does one
  // with ASCII outside letters, digits, "." and "-", which the codec keeps and the
  // regex refuses, where domainToASCII, a URL host parser, would cut at "/", "?"
  // or "#", decode "%61", or read "2130706442" as an address.
  if (!/[^\p{ASCII}]/u.test(domain) || /[^\P{ASCII}A-Za-z0-9.-]/u.test(domain)) return false;
  const ascii = domainToASCII(domain);
  return ascii !== '' && validDomainPart(ascii);
}

function validDomainPart(domain: string): boolean {
  if (EMAIL_DOMAIN.test(domain)) return true;
  const literal = EMAIL_LITERAL.exec(domain);
  return literal !== null && isIP(literal[1]!) !== 0;
}
