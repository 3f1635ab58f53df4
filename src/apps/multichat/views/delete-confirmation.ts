/**
 * The body of Django's delete confirmations, delete_confirmation.html (one
 * object, from its Delete link) and delete_selected_confirmation.html (the
 * delete_selected action): "Are you sure?", the question, a summary of how
 * many of each kind go, the objects named, each linking to its page, what
 * else deleting them does here, and the form whose "Yes, I’m sure" deletes
 * them. Deleting takes a POST from this page, never a GET.
 */
import { html, type HtmlValue } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { csrfInput } from './layout.js';

/** The page's heading, and its <title>. */
export const CONFIRM_TITLE = 'Are you sure?';

/** An object to be deleted, as the Objects list names it. */
export interface DeletedObject {
  /** Its kind, capitalised as Django's capfirst: "Room". */
  kind: string;
  name: string;
  /** Its change page. */
  href: string;
}

export interface DeleteConfirmation {
  /** Django's question, up to and with its "?" (markup: the quotes around a name are the template's). */
  question: HtmlValue;
  /** Whether the question is the action's ("All of the following objects and their related items…"). */
  selected: boolean;
  /** The summary's lines: how many of each kind (verbose_name_plural), none for a kind with none. */
  summary: readonly { kinds: string; count: number }[];
  objects: readonly DeletedObject[];
  /** What else deleting them does here (sessions ended, sockets told). */
  consequence: string;
  /** Where the form posts, and where "No, take me back" leads. */
  action: string;
  cancel: string;
  /** The form's hidden fields besides the CSRF token (the action's ticked rows). */
  hidden?: readonly [string, string][];
}

export function deleteConfirmation(request: Request, options: DeleteConfirmation): HtmlValue {
  const following = options.selected
    ? 'All of the following objects and their related items will be deleted:'
    : 'All of the following related items will be deleted:';
  return html`<section class="card narrow" aria-labelledby="confirm-heading">
    <h1 id="confirm-heading">${CONFIRM_TITLE}</h1>
    <p>${options.question} ${following}</p>
    <h2>Summary</h2>
    <ul>
      ${options.summary.flatMap(({ kinds, count }) =>
        count > 0 ? [html`<li>${kinds}: ${count}</li>`] : [],
      )}
    </ul>
    <h2>Objects</h2>
    <ul>
      ${options.objects.map(objectItem)}
    </ul>
    <p class="help">${options.consequence}</p>
    <form method="post" action="${options.action}" class="form-actions">
      ${csrfInput(request)}
      ${(options.hidden ?? []).map(
        ([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`,
      )}
      <button type="submit" class="danger">Yes, I’m sure</button>
      <a class="button" href="${options.cancel}">No, take me back</a>
    </form>
  </section>`;
}

/** An Objects line: "Room: <a>General</a>", as Django's. */
function objectItem({ kind, name, href }: DeletedObject): HtmlValue {
  return html`<li>${kind}: <a href="${href}">${name}</a></li>`;
}
