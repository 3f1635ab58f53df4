/**
 * What the admin shows of its log (../admin-log.ts), as Django 3.2's templates
 * show it: an object's history (admin/object_history.html) and the dashboard's
 * "Recent actions" box (admin/index.html's sidebar).
 */
import { html, type HtmlValue } from '../../../worker/http/html.js';
import {
  ADDITION,
  CHANGE,
  DELETION,
  type ActionFlag,
  type HistoryEntry,
  type LogEntry,
  type LoggedModel,
} from '../admin-log.js';
import { changeMessageText } from '../change-message.js';
import { djangoDateTime } from './django-date.js';

/** Each logged model's change pages, and its name as Django's content type gives it. */
const MODELS: Record<LoggedModel, { list: string; name: string }> = {
  'chat.room': { list: '/admin/rooms/', name: 'Room' },
  'auth.user': { list: '/admin/users/', name: 'User' },
};

/** LogEntry.get_admin_url: the change page of the object an entry is about. */
function adminUrl(entry: LogEntry): string | undefined {
  const model = MODELS[entry.model] as (typeof MODELS)[LoggedModel] | undefined;
  return model && `${model.list}${encodeURIComponent(entry.objectId)}/`;
}

/**
 * object_history.html's content: when, by whom (the username, then the full
 * name, if any, in brackets) and what (the change message), oldest first; or
 * Django's sentence for an object with no entries.
 */
export function historyTable(entries: readonly HistoryEntry[]): HtmlValue {
  if (entries.length === 0)
    return html`<p>
      This object doesn’t have a change history. It probably wasn’t added via this admin site.
    </p>`;
  return html`<div class="table-wrap">
    <table class="admin-table" id="change-history">
      <thead>
        <tr>
          <th scope="col">Date/time</th>
          <th scope="col">User</th>
          <th scope="col">Action</th>
        </tr>
      </thead>
      <tbody>
        ${entries.map(
          (entry) =>
            html`<tr>
              <th scope="row">
                <time datetime="${entry.actionTime.toISOString()}"
                  >${djangoDateTime(entry.actionTime)}</time
                >
              </th>
              <td>${entry.username}${entry.fullName ? ` (${entry.fullName})` : ''}</td>
              <td>${changeMessageText(entry.changeMessage)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** index.html's classes for an entry's icon, and (for a screen reader, which gets no icon) its words. */
const ACTIONS: Record<ActionFlag, { className: string; words: string }> = {
  [ADDITION]: { className: 'addlink', words: 'Added' },
  [CHANGE]: { className: 'changelink', words: 'Changed' },
  [DELETION]: { className: 'deletelink', words: 'Deleted' },
};

/**
 * The dashboard's "Recent actions" box: the current user's own latest entries
 * ("My actions"), each object named as it was then, linked to its change page
 * unless the entry is a deletion (as Django's, whether or not it exists now:
 * its page says so if it does not), with its model's name.
 */
export function recentActions(entries: readonly LogEntry[]): HtmlValue {
  return html`<section
    class="admin-section recent-actions"
    id="recent-actions-module"
    aria-labelledby="recent-actions"
  >
    <h2 id="recent-actions">Recent actions</h2>
    <h3>My actions</h3>
    ${
      entries.length === 0
        ? html`<p>None available</p>`
        : html`<ul class="actionlist">
            ${entries.map((entry) => {
              const action = ACTIONS[entry.action] as (typeof ACTIONS)[ActionFlag] | undefined;
              const href = entry.action === DELETION ? undefined : adminUrl(entry);
              const model = MODELS[entry.model] as (typeof MODELS)[LoggedModel] | undefined;
              return html`<li class="${action?.className ?? ''}">
                ${action ? html`<span class="visually-hidden">${action.words}: </span>` : ''}
                ${href ? html`<a href="${href}">${entry.objectRepr}</a>` : entry.objectRepr}
                <br />
                <span class="mini quiet">${model?.name ?? 'Unknown content'}</span>
              </li>`;
            })}
          </ul>`
    }
  </section>`;
}
