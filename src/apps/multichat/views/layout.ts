import type { Request } from '../../../worker/http/request.js';
import { html, type HtmlValue, type SafeHtml } from '../../../worker/http/html.js';

/** A link in a notice: Django's notices after a save link the object's name to its page. */
export interface FlashLink {
  href: string;
  text: string;
}

/**
 * A one-shot notice shown on the page after a redirect ("The room “Lobby” was
 * added successfully.", or a warning: "room with ID “5” doesn’t exist. Perhaps it
 * was deleted?"), at Django's message levels. Its text is text, never markup: a
 * notice with a link is its pieces, and only the FlashLinks among them are links.
 */
export interface FlashMessage {
  level: 'success' | 'warning' | 'error';
  text: string | readonly (string | FlashLink)[];
}

/** A step of the admin's breadcrumbs; the last, the page itself, has no link. */
export interface Crumb {
  text: string;
  href?: string;
}

/**
 * The admin's name in its pages' titles: Django's AdminSite.site_title, whose
 * default names the framework ("Django site admin"), as this one names Gredis.
 */
export const ADMIN_SITE_TITLE = 'Gredis site admin';

export interface PageOptions {
  /** The page's own title, which the layout follows with the site's name. */
  title: string;
  body: HtmlValue;
  /** Extra scripts from /static/ (the chat client). */
  scripts?: string[];
  /** Adds the admin navigation, and titles the page as Django's admin/base_site.html. */
  admin?: boolean;
  /** The admin's trail to this page, from Home (Django's breadcrumbs block); shown before main. */
  breadcrumbs?: readonly Crumb[];
  /** Notices shown above the body; focused on load, so screen readers read them. */
  messages?: readonly FlashMessage[];
}

/** The site layout: every page, including error pages, is rendered in it. */
export function page(request: Request | undefined, options: PageOptions): SafeHtml {
  const user = request?.user;
  const messages = options.messages ?? [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${documentTitle(options)}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/chat.css">
</head>
<body${options.admin ? html` class="admin"` : ''}>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
  <a class="brand" href="/">MultiChat</a>
  <nav aria-label="Account" class="account-nav">
    ${
      user
        ? html`<span class="whoami">Signed in as <strong>${user.username}</strong></span>
            ${user.isStaff ? html`<a href="/admin/">Admin</a>` : ''}
            <form method="post" action="/accounts/logout/" class="inline">
              <input type="hidden" name="csrfmiddlewaretoken" value="${request!.csrfToken()}" />
              <button type="submit" class="link-button">Log out</button>
            </form>`
        : html`<a href="/accounts/login/">Log in</a>`
    }
  </nav>
</header>
${options.admin && request ? adminNav(request) : ''}
${options.breadcrumbs ? breadcrumbs(options.breadcrumbs) : ''}
<main id="main" tabindex="-1">
${
  messages.length > 0
    ? // Focused on load (autofocus): a status region already there when a page
      // loads is not announced, and these follow a redirect ("The room was added.").
      html`<div class="flash-messages" role="status" tabindex="-1" autofocus>
        ${messages.map((m) => html`<p class="flash flash-${m.level}">${flashText(m.text)}</p>`)}
      </div>`
    : ''
}
${options.body}
</main>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</body>
</html>
`;
}

/** Django's admin: "{title} | {site_title}"; the other pages: "{title} · MultiChat". */
function documentTitle(options: PageOptions): string {
  if (options.admin) return `${options.title} | ${ADMIN_SITE_TITLE}`;
  return options.title === 'MultiChat' ? 'MultiChat' : `${options.title} · MultiChat`;
}

/**
 * Django's "Home › Rooms › Lobby", as a navigation landmark of its own (outside
 * main, so the skip link passes it as it passes the menus); the separators are
 * decoration, hidden from screen readers, which say the list and its places.
 */
function breadcrumbs(crumbs: readonly Crumb[]): SafeHtml {
  return html`<nav class="breadcrumbs" aria-label="Breadcrumbs">
    <ol>
      ${crumbs.map(
        // Space between the items: the text reads "Home › Rooms", not "Home› Rooms".
        (crumb, i) =>
          html` <li>
            ${i > 0 ? html`<span class="crumb-separator" aria-hidden="true">›</span> ` : ''}${
              crumb.href
                ? html`<a href="${crumb.href}">${crumb.text}</a>`
                : html`<span aria-current="page">${crumb.text}</span>`
            }
          </li>`,
      )}
    </ol>
  </nav>`;
}

function flashText(text: FlashMessage['text']): HtmlValue {
  if (typeof text === 'string') return text;
  return text.map((part) =>
    typeof part === 'string' ? part : html`<a href="${part.href}">${part.text}</a>`,
  );
}

/** The admin's sections; Users only for superusers (others would get 403 there). */
function adminNav(request: Request): SafeHtml {
  const links: [string, string][] = [
    ['/admin/', 'Dashboard'],
    ['/admin/rooms/', 'Rooms'],
  ];
  if (request.user?.isSuperuser) links.push(['/admin/users/', 'Users']);
  const current = (href: string): boolean =>
    href === '/admin/' ? request.path === href : request.path.startsWith(href);
  return html`<nav class="admin-nav" aria-label="Admin">
    <ul>
      ${links.map(
        ([href, label]) =>
          html`<li>
            <a href="${href}" ${current(href) ? html` aria-current="page"` : ''}>${label}</a>
          </li>`,
      )}
    </ul>
  </nav>`;
}

/** Field errors by field name: a field's messages, however many, are one string. */
export type Errors = Partial<Record<string, string | undefined>>;

/** How many fields have errors. */
export function errorCount(errors: Errors): number {
  return Object.values(errors).filter(Boolean).length;
}

/**
 * Django's errornote over a form whose fields have errors (the admin's
 * change_form.html, change_password.html and login.html alike): "error" when one
 * field has errors, however many messages it has, since Django counts
 * form.errors' entries, one a field. Errors about the whole form (a login
 * refused) are said instead of it, by the form's page.
 */
export function formError(errors: Errors): HtmlValue {
  const count = errorCount(errors);
  if (count === 0) return '';
  return html`<p class="error form-error" role="alert">
    ${count === 1 ? 'Please correct the error below.' : 'Please correct the errors below.'}
  </p>`;
}

/**
 * The ids of what describes a field: its help text and its error, if any, and
 * `formError`, the id of an error about the whole form that concerns it too.
 */
function describedBy(
  id: string,
  help: string | undefined,
  error: string | undefined,
  formError?: string,
): SafeHtml | '' {
  const ids = [help ? `${id}_help` : '', error ? `${id}_error` : '', formError ?? '']
    .filter(Boolean)
    .join(' ');
  return ids ? html` aria-describedby="${ids}"` : '';
}

function fieldNotes(id: string, help: string | undefined, error: string | undefined): SafeHtml {
  return html`${help ? html`<span class="help" id="${id}_help">${help}</span>` : ''}${
    error ? html`<span class="error" id="${id}_error">${error}</span>` : ''
  }`;
}

/**
 * A field with an error takes focus when the form comes back (the first in the
 * page, as the browser takes the first autofocus): the user lands where to
 * correct it, and a screen reader reads its error, which an alert already in the
 * page on load is not.
 */
function autofocusAttr(options: {
  autofocus?: boolean;
  error?: string | undefined;
}): SafeHtml | '' {
  return options.error || options.autofocus ? html` autofocus` : '';
}

/** A form field's label and input with its error, accessible by construction. */
export function field(options: {
  name: string;
  label: string;
  type?: string;
  value?: string;
  error?: string | undefined;
  help?: string | undefined;
  autocomplete?: string;
  /**
   * 'none' for a username, as Django's UsernameField has it: usernames are
   * case-sensitive, and a phone's keyboard would start one with a capital.
   */
  autocapitalize?: 'none';
  required?: boolean;
  autofocus?: boolean;
  /** The server's limit in characters (code points), as Django counts them. */
  maxChars?: number;
  /**
   * The id of an error about the form as a whole that is about this field too
   * (a login refused): a field that takes focus must say it, since the alert
   * shown with the page is not announced.
   */
  formError?: string | undefined;
}): SafeHtml {
  const id = `id_${options.name}`;
  const value = options.value ?? '';
  // A value past the box's maxlength came from no browser (megabytes, maybe):
  // Django would show it again, but it is not worth sending back, so the box is
  // empty. Up to it, as Django: what was sent, to correct.
  const shown = options.maxChars && value.length > options.maxChars * 2 ? '' : value;
  return html`<p class="field${options.error ? ' has-error' : ''}">
    <label for="${id}">${options.label}</label>
    <input
      id="${id}"
      name="${options.name}"
      type="${options.type ?? 'text'}"
      value="${shown}"
      ${options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''}${
        options.autocapitalize ? html` autocapitalize="${options.autocapitalize}"` : ''
      }${options.required ? html` required` : ''}${autofocusAttr(options)}${
        // A browser's maxlength counts UTF-16 units, two for an astral character
        // (emoji, rarer CJK): given the limit itself it would stop a valid name or
        // title halfway. So it gets the most units a valid value can have, and
        // the server counts the characters.
        options.maxChars ? html` maxlength="${options.maxChars * 2}"` : ''
      }${options.error ? html` aria-invalid="true"` : ''}${describedBy(id, options.help, options.error, options.formError)}
    />
    ${fieldNotes(id, options.help, options.error)}
  </p>`;
}

/** A labelled checkbox; an unchecked box sends nothing, which reads as false. */
export function checkbox(options: {
  name: string;
  label: string;
  checked: boolean;
  help?: string | undefined;
  error?: string | undefined;
}): SafeHtml {
  const id = `id_${options.name}`;
  return html`<p class="field checkbox${options.error ? ' has-error' : ''}">
    <input
      id="${id}"
      name="${options.name}"
      type="checkbox"
      value="on"
      ${
        options.checked ? html` checked` : ''
      }${autofocusAttr(options)}${options.error ? html` aria-invalid="true"` : ''}${describedBy(id, options.help, options.error)}
    />
    <label for="${id}">${options.label}</label>
    ${fieldNotes(id, options.help, options.error)}
  </p>`;
}

export function csrfInput(request: Request): SafeHtml {
  return html`<input type="hidden" name="csrfmiddlewaretoken" value="${request.csrfToken()}" />`;
}
