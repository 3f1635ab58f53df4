/**
 * What the admin's rooms and users pages do alike, as Django's ModelAdmin does
 * it for every model: the list with its delete_selected action, the delete and
 * history views, and where an object's pages are. Each model's module says what
 * differs (its table, its forms, what follows a change or a delete).
 */
import type { Knex } from 'knex';
import { html, type HtmlValue } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import type { View } from '../../../worker/http/router.js';
import type { AdminServices } from '../index.js';
import { DELETION, type LoggedModel } from '../admin-log.js';
import type { Crumb, FlashLink } from './layout.js';
import {
  keepListFilters,
  loadChangeList,
  paginator,
  searchForm,
  type ChangeList,
  type KeepFilters,
  type ListNouns,
  type ListSource,
} from './changelist.js';
import {
  actionCheckbox,
  actionToggleHeader,
  listAction,
  type DeleteSelected,
} from './changelist-actions.js';
import { filterSidebar } from './list-controls.js';
import type { ListModel } from './list-query.js';
import { historyTable } from './history.js';
import {
  ACTIONS_SCRIPT,
  adminPage,
  capitalised,
  changelistForm,
  confirmDelete,
  confirmDeleteSelected,
  deletedNotice,
  historyPage,
  logAction,
  missingObject,
  objectCrumbs,
  parseId,
  redirectWith,
  savedNotice,
} from './admin-parts.js';

/** What the admin lists and edits: a row with its id, the id in its pages' paths. */
export interface AdminObject {
  id: number;
}

/** Where a model's admin keeps its objects: its list's rows, and deleting one. */
export interface AdminRepository<T> extends ListSource<T> {
  /** Deletes the object, `before` in its transaction; false if it was gone. */
  delete(id: number, before: (trx: Knex.Transaction) => Promise<unknown>): Promise<boolean>;
}

/** A model's admin: what its pages call its objects, where they are, and where it finds them. */
export interface AdminModel<T extends AdminObject> {
  /** Django's verbose_name, lower case, as notices and warnings start with it. */
  kind: 'room' | 'user';
  /** Its list's nouns, for its count here and on the dashboard, and its search label. */
  nouns: ListNouns;
  /** The list's path; each object's pages are under it, by id. */
  list: string;
  /** What the list shows, sorts and filters by. */
  listModel: ListModel;
  /** The crumb back to the list. */
  crumb: Crumb;
  /** Its log entries' model. */
  logged: LoggedModel;
  repository(services: AdminServices): AdminRepository<T>;
  find(services: AdminServices, id: number): Promise<T | undefined>;
  /** The model's __str__: the object's name on its pages and in its log entries. */
  name(object: T): string;
}

/** The path of an object's change page, or of its page `page` ('delete/', 'history/', …). */
export function objectPath<T extends AdminObject>(
  model: AdminModel<T>,
  id: number,
  page = '',
): string {
  return `${model.list}${id}/${page}`;
}

/** The path of the model's add page. */
export function addPath<T extends AdminObject>(model: AdminModel<T>): string {
  return `${model.list}new/`;
}

/** keepListFilters for the model's list: its pages' links keep the list's search and lookups. */
export function keepFilters<T extends AdminObject>(
  request: Request,
  model: AdminModel<T>,
): KeepFilters {
  return keepListFilters(request, model.list, model.listModel);
}

/** The paths of an object's pages (its change page by default), keeping the list's filters. */
export function keptObjectPaths<T extends AdminObject>(
  request: Request,
  model: AdminModel<T>,
  id: number,
): (page?: string) => string {
  const keep = keepFilters(request, model);
  return (page) => keep(objectPath(model, id, page));
}

/** The object whose id is in the path, if it is there (a malformed id finds none). */
export async function findObject<T extends AdminObject>(
  services: AdminServices,
  model: AdminModel<T>,
  params: Record<string, string>,
): Promise<T | undefined> {
  const id = parseId(params.id);
  return id === undefined ? undefined : model.find(services, id);
}

/** An object as its log entries name it. */
export function loggedObject<T extends AdminObject>(
  model: AdminModel<T>,
  object: T,
): { model: LoggedModel; objectId: number; objectRepr: string } {
  return { model: model.logged, objectId: object.id, objectRepr: model.name(object) };
}

/** Deletes `object` with its log entry (log_deletion), in one transaction; false if it was gone. */
export function deleteLogged<T extends AdminObject>(
  services: AdminServices,
  request: Request,
  model: AdminModel<T>,
  object: T,
): Promise<boolean> {
  return model
    .repository(services)
    .delete(object.id, (trx) =>
      logAction(services, request, trx, { ...loggedObject(model, object), action: DELETION }),
    );
}

/** An object's name linking to its change page, as a notice names it. */
export function objectLink<T extends AdminObject>(model: AdminModel<T>, object: T): FlashLink {
  return { href: objectPath(model, object.id), text: model.name(object) };
}

/**
 * Where a saved add or change form leads, as ModelAdmin.response_add and
 * response_change send it: "Save and continue editing" (`_continue`, read first)
 * to the object's page, "Save and add another" to an empty add form, each notice
 * saying so; "Save" back to the list, unless `saveContinues` (UserAdmin's add,
 * whose Save continues to the new user's page). Every way keeps the list's filters.
 */
export function afterSave<T extends AdminObject>(
  request: Request,
  model: AdminModel<T>,
  saved: T,
  options: { done: 'added' | 'changed'; saveContinues?: boolean },
): Response {
  const { kind } = model;
  const object = objectLink(model, saved);
  const form = request.form();
  const keep = keepFilters(request, model);
  const notice = savedNotice(kind, object, options.done);
  const another = form.has('_addanother');
  if (form.has('_continue') || (options.saveContinues && !another))
    return redirectWith(request, keep(object.href), [...notice, ' You may edit it again below.']);
  if (another)
    return redirectWith(request, keep(addPath(model)), [
      ...notice,
      ` You may add another ${kind} below.`,
    ]);
  return redirectWith(request, keep(model.list), notice);
}

/**
 * Django's changelist_view: "Select <kind> to change" with the add button, the
 * search, the list's form and pages, and its filters, or `empty` while there is
 * nothing to list; a POST to it is the delete_selected action (`deleteSelected`).
 */
export function changeListView<T extends AdminObject>(
  services: AdminServices,
  model: AdminModel<T>,
  options: {
    table(list: ChangeList<T>, keep: KeepFilters): HtmlValue;
    deleteSelected(request: Request): DeleteSelected<T>;
    /** Shown instead of the list when there are no objects at all. */
    empty?: HtmlValue;
  },
): View {
  const { kind, nouns } = model;
  return async (request) => {
    const list = await loadChangeList(request, model.repository(services), model.listModel);
    if (list instanceof Response) return list;
    const acted = await listAction(request, list, options.deleteSelected(request));
    if (acted) return acted;
    const keep = keepFilters(request, model);
    const title = `Select ${kind} to change`;
    return adminPage(
      request,
      { title, crumbs: [{ text: capitalised(nouns.plural) }], scripts: [ACTIONS_SCRIPT] },
      html`<div class="page-heading">
          <h1>${title}</h1>
          <a class="button primary" href="${keep(addPath(model))}">Add ${kind}</a>
        </div>
        ${
          list.fullCount === 0 && options.empty !== undefined
            ? options.empty
            : html`${searchForm(list, nouns)}
                <div class="changelist">
                  <div class="changelist-main">
                    ${changelistForm(request, list, nouns, options.table(list, keep))}
                    ${paginator(list, nouns)}
                  </div>
                  ${filterSidebar(list)}
                </div>`
        }`,
      list.messages,
    );
  };
}

/**
 * The list's table (list_display): the action checkboxes' column first, then
 * `headers` over the cells `row` gives each object, then its links, under a
 * header only screen readers read: Edit, then `link` (another of its pages).
 * Nothing when no row matches.
 */
export function objectsTable<T extends AdminObject>(
  model: AdminModel<T>,
  list: ChangeList<T>,
  keep: KeepFilters,
  columns: { headers: HtmlValue; row(object: T): HtmlValue; link(object: T): HtmlValue },
): HtmlValue {
  return list.items.length === 0
    ? ''
    : html`<div class="table-wrap">
        <table class="admin-table">
          <caption class="visually-hidden">
            ${capitalised(model.nouns.plural)}
          </caption>
          <thead>
            <tr>
              ${actionToggleHeader()} ${columns.headers}
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${list.items.map(
              (object) =>
                html`<tr data-${model.kind}-id="${object.id}">
                  ${actionCheckbox(object.id, model.name(object))} ${columns.row(object)}
                  <td class="actions">
                    <a href="${keep(objectPath(model, object.id))}"
                      >Edit<span class="visually-hidden"> ${model.name(object)}</span></a
                    >
                    ${columns.link(object)}
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`;
}

/**
 * Django's delete_view: the confirmation on a GET, the object deleted (with
 * its log entry) on a POST, then `afterDelete` (what else a delete does; false
 * when it could not, which the notice then warns of with `unsent`), and back
 * to the list with Django's notice.
 */
export function deleteView<T extends AdminObject>(
  services: AdminServices,
  model: AdminModel<T>,
  options: {
    /** What else deleting `object` does, for its confirmation. */
    consequence(request: Request, object: T): string;
    afterDelete(request: Request, object: T): Promise<boolean>;
    unsent: string;
  },
): View {
  return async (request, params) => {
    const object = await findObject(services, model, params);
    if (!object) return missingObject(request, model.kind, params.id);
    const name = model.name(object);
    const keep = keepFilters(request, model);
    if (request.method !== 'POST') {
      const href = objectPath(model, object.id);
      return confirmDelete(request, {
        kind: model.kind,
        name,
        href,
        consequence: options.consequence(request, object),
        action: keep(objectPath(model, object.id, 'delete/')),
        cancel: keep(href),
        crumbs: objectCrumbs(model.crumb, name, href, 'Delete'),
      });
    }
    if (!(await deleteLogged(services, request, model, object)))
      return missingObject(request, model.kind, params.id);
    const notice = deletedNotice(model.kind, name);
    if (await options.afterDelete(request, object))
      return redirectWith(request, keep(model.list), notice);
    return redirectWith(request, keep(model.list), `${notice}${options.unsent}`, 'warning');
  };
}

/**
 * delete_selected on the model's list: its confirmation lists each object
 * ticked by name, linking to its page, and says `consequence`, what else
 * deleting them does; `remove` deletes them as the delete view does.
 */
export function deleteSelected<T extends AdminObject>(
  services: AdminServices,
  request: Request,
  model: AdminModel<T>,
  options: Pick<DeleteSelected<T>, 'remove'> & { consequence(objects: readonly T[]): string },
): DeleteSelected<T> {
  return {
    nouns: model.nouns,
    source: model.repository(services),
    confirm: (objects) =>
      confirmDeleteSelected(request, objects, {
        nouns: model.nouns,
        crumb: model.crumb,
        describe: (object) => ({ name: model.name(object), href: objectPath(model, object.id) }),
        consequence: options.consequence(objects),
      }),
    remove: options.remove,
  };
}

/**
 * Django's history_view: the object's log. An object that is gone has no page,
 * its entries notwithstanding: Django redirects as from its other pages.
 */
export function historyView<T extends AdminObject>(
  services: AdminServices,
  model: AdminModel<T>,
): View {
  return async (request, params) => {
    const object = await findObject(services, model, params);
    if (!object) return missingObject(request, model.kind, params.id);
    const entries = await services.log.historyOf(model.logged, object.id);
    return historyPage(request, {
      list: model.crumb,
      name: model.name(object),
      href: objectPath(model, object.id),
      body: historyTable(entries),
    });
  };
}
