import type { Request } from '../../../worker/http/request.js';
import { html, type HtmlValue, type SafeHtml } from '../../../worker/http/html.js';

export interface PageOptions {
  title: string;
  body: HtmlValue;
  /** Extra scripts from /static/ (the chat client). */
  scripts?: string[];
  /** Adds the admin stylesheet and navigation. */
  admin?: boolean;
}

/** The site layout: every page, including error pages, is rendered in it. */
export function page(request: Request | undefined, options: PageOptions): SafeHtml {
  const user = request?.user;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title === 'MultiChat' ? 'MultiChat' : `${options.title} · MultiChat`}</title>
<link rel="stylesheet" href="/static/chat.css">
</head>
<body${options.admin ? html` class="admin"` : ''}>
<header class="site-header">
  <a class="brand" href="/">MultiChat</a>
  <nav aria-label="Account">
    ${
      user
        ? html`<span class="whoami">Signed in as <strong>${user.username}</strong></span>
            ${user.isStaff ? html`<a href="/admin/">Admin</a>` : ''}
            <form method="post" action="/accounts/logout/" class="inline">
              <input type="hidden" name="csrfmiddlewaretoken" value="${request!.csrfToken()}" />
              <button type="submit">Log out</button>
            </form>`
        : html`<a href="/accounts/login/">Log in</a>`
    }
  </nav>
</header>
<main id="main">
${options.body}
</main>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</body>
</html>
`;
}

/** A form field's label and input with its error, accessible by construction. */
export function field(options: {
  name: string;
  label: string;
  type?: string;
  value?: string;
  error?: string | undefined;
  autocomplete?: string;
  required?: boolean;
  autofocus?: boolean;
  maxlength?: number;
}): SafeHtml {
  const id = `id_${options.name}`;
  const errorId = `${id}_error`;
  return html`<p class="field">
    <label for="${id}">${options.label}</label>
    <input
      id="${id}"
      name="${options.name}"
      type="${options.type ?? 'text'}"
      value="${options.value ?? ''}"
      ${
        options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''
      }${options.required ? html` required` : ''}${options.autofocus ? html` autofocus` : ''}${
        options.maxlength ? html` maxlength="${options.maxlength}"` : ''
      }${options.error ? html` aria-invalid="true" aria-describedby="${errorId}"` : ''}
    />
    ${options.error ? html`<span class="error" id="${errorId}">${options.error}</span>` : ''}
  </p>`;
}

export function csrfInput(request: Request): SafeHtml {
  return html`<input type="hidden" name="csrfmiddlewaretoken" value="${request.csrfToken()}" />`;
}
