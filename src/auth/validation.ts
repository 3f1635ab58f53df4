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
  if (/^\p{Nd}+$/u.test(password)) problems.push('This password is entirely numeric.');
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

// Django's dot-atom: the part before the @ is ASCII; the domain may be international.
const EMAIL_LOCAL = /^[-!#$%&'*+/=?^_`{|}~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{|}~0-9A-Za-z]+)*$/;
const EMAIL_DOMAIN = /^((?!-)[\p{L}\p{N}-]{1,63}(?<!-)\.)+[\p{L}-]{2,63}$|^localhost$/iu;

/** Django's EmailValidator in brief: blank is allowed, otherwise local@domain.tld. */
export function emailProblem(email: string): string | undefined {
  if (email === '') return undefined;
  const at = email.lastIndexOf('@');
  const valid =
    at > 0 &&
    [...email].length <= 254 &&
    EMAIL_LOCAL.test(email.slice(0, at)) &&
    EMAIL_DOMAIN.test(email.slice(at + 1));
  return valid ? undefined : 'Enter a valid email address.';
}
