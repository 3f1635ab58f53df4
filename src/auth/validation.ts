import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

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
 * Python's str.isdigit, which NumericPasswordValidator uses: decimal digits, and
 * the characters Unicode gives a digit value without being decimal (superscripts,
 * circled digits, …), listed from Python 3.11's Unicode data.
 */
const DIGITS_ONLY =
  /^[\p{Nd}\u00B2\u00B3\u00B9\u1369-\u1371\u19DA\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u2474-\u247C\u2488-\u2490\u24EA\u24F5-\u24FD\u24FF\u2776-\u277E\u2780-\u2788\u278A-\u2792\u{10A40}-\u{10A43}\u{10E60}-\u{10E68}\u{11052}-\u{1105A}\u{1F100}-\u{1F10A}]+$/u;

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
  if ([...password].length < MIN_PASSWORD_LENGTH) {
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
  const passwordLength = [...password].length;
  const valueLength = [...value].length;
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
  const length = [...a].length + [...b].length;
  return length === 0 ? 1 : (2 * matches) / length;
}

// Django 3.2's EmailValidator, regex for regex: a dot-atom or quoted local part;
// a domain of LDH labels (tried again as IDNA when it fails), an address literal,
// or exactly "localhost".
const EMAIL_USER =
  // eslint-disable-next-line no-control-regex -- a quoted local part may hold them, as in Django
  /^(?:[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")$/i;
const EMAIL_DOMAIN = /^(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z0-9-]{2,63}(?<!-)$/i;
const EMAIL_LITERAL = /^\[([A-F0-9:.]+)\]$/i;
/** Django's field (EmailField's max_length), checked here too: one message for both. */
const EMAIL_MAX_LENGTH = 254;

/** Django's EmailValidator (and its field's length): blank is allowed, otherwise local@domain. */
export function emailProblem(email: string): string | undefined {
  if (email === '') return undefined;
  const at = email.lastIndexOf('@');
  const valid =
    at > 0 &&
    [...email].length <= EMAIL_MAX_LENGTH &&
    EMAIL_USER.test(email.slice(0, at)) &&
    validEmailDomain(email.slice(at + 1));
  return valid ? undefined : 'Enter a valid email address.';
}

function validEmailDomain(domain: string): boolean {
  if (domain === 'localhost' || validDomainPart(domain)) return true;
  // An international domain, as its ASCII (punycode) form. domainToASCII drops
  // tabs and line breaks that Python's IDNA codec keeps (and its regex refuses).
  // eslint-disable-next-line no-control-regex -- the control characters are what is refused
  if (/[\s\x00-\x1f\x7f]/.test(domain)) return false;
  const ascii = domainToASCII(domain);
  return ascii !== '' && validDomainPart(ascii);
}

function validDomainPart(domain: string): boolean {
  if (EMAIL_DOMAIN.test(domain)) return true;
  const literal = EMAIL_LITERAL.exec(domain);
  return literal !== null && isIP(literal[1]!) !== 0;
}
