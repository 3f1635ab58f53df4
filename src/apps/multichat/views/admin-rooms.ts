/** The admin's rooms (staff): list, add, change, delete and history. */
import { html, type HtmlValue } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import type { View } from '../../../worker/http/router.js';
import { roomDeletedFrame, roomGroup } from '../chat-protocol.js';
import type { AdminServices } from '../index.js';
import { InvalidRoomTitle, ROOM_TITLE_MAX_LENGTH, type Room } from '../rooms.js';
import { checkbox, csrfInput, field, formError, type Errors } from './layout.js';
import {
  closeRoomAfterChange,
  sentAfterCommit,
  unsentRoomClose,
  unsentRoomNotice,
} from './after-change-close.js';
import {
  keepListFilters,
  loadChangeList,
  paginator,
  searchForm,
  type ChangeList,
  type KeepFilters,
  type ListNouns,
} from './changelist.js';
import {
  actionCheckbox,
  actionToggleHeader,
  listAction,
  type DeleteSelected,
} from './changelist-actions.js';
import { filterSidebar, sortableHeader } from './list-controls.js';
import { ROOM_LIST_MODEL } from './list-models.js';
import { ADDITION, CHANGE, DELETION, type LoggedModel } from '../admin-log.js';
import { changeMessage } from '../change-message.js';
import { historyTable } from './history.js';
import {
  ACTIONS_SCRIPT,
  ROOMS_CRUMB,
  adminPage,
  afterSave,
  changedLabels,
  changelistForm,
  confirmDelete,
  confirmDeleteSelected,
  deletedNotice,
  historyPage,
  isChecked,
  logAction,
  missingObject,
  objectCrumbs,
  objectTools,
  parseId,
  reasonOf,
  redirectWith,
  saveButtons,
  savedNotice,
  yesNo,
  ROOM_LIST,
} from './admin-parts.js';

/** The list's nouns, for its count here and on the dashboard, and its search label. */
export const ROOM_NOUNS: ListNouns = { singular: 'room', plural: 'rooms', searchedBy: 'title' };

export function roomList(services: AdminServices): View {
  return async (request) => {
    const list = await loadChangeList(request, services.rooms, ROOM_LIST_MODEL);
    if (list instanceof Response) return list;
    const acted = await listAction(request, list, deleteSelectedRooms(services, request));
    if (acted) return acted;
    const keep = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL);
    const title = 'Select room to change';
    return adminPage(
      request,
      { title, crumbs: [{ text: 'Rooms' }], scripts: [ACTIONS_SCRIPT] },
      html`<div class="page-heading">
          <h1>${title}</h1>
          <a class="button primary" href="${keep('/admin/rooms/new/')}">Add room</a>
        </div>
        ${
          list.fullCount === 0
            ? html`<p class="empty">
                No rooms yet. <a href="/admin/rooms/new/">Add the first one</a>.
              </p>`
            : html`${searchForm(list, ROOM_NOUNS)}
                <div class="changelist">
                  <div class="changelist-main">
                    ${changelistForm(request, list, ROOM_NOUNS, roomsTable(list, keep))}
                    ${paginator(list, ROOM_NOUNS)}
                  </div>
                  ${filterSidebar(list)}
                </div>`
        }`,
      list.messages,
    );
  };
}

/**
 * Rooms with id, title and staff-only under headers that sort by them, each
 * linking to its edit and delete pages.
 */
function roomsTable(list: ChangeList<Room>, keep: KeepFilters): HtmlValue {
  return list.items.length === 0
    ? ''
    : html`<div class="table-wrap">
        <table class="admin-table">
          <caption class="visually-hidden">
            Rooms
          </caption>
          <thead>
            <tr>
              ${actionToggleHeader()} ${sortableHeader(list, 1, 'ID')}
              ${sortableHeader(list, 2, 'Title')} ${sortableHeader(list, 3, 'Staff only')}
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${list.items.map(
              (room) =>
                html`<tr data-room-id="${room.id}">
                  ${actionCheckbox(room.id, room.title)}
                  <td class="num">${room.id}</td>
                  <th scope="row">
                    <a href="${keep(`/admin/rooms/${room.id}/`)}">${room.title}</a>
                  </th>
                  <td>${yesNo(room.staffOnly)}</td>
                  <td class="actions">
                    <a href="${keep(`/admin/rooms/${room.id}/`)}"
                      >Edit<span class="visually-hidden"> ${room.title}</span></a
                    >
                    <a href="${keep(`/admin/rooms/${room.id}/delete/`)}" class="danger-link"
                      >Delete<span class="visually-hidden"> ${room.title}</span></a
                    >
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`;
}

interface RoomValues {
  title: string;
  staffOnly: boolean;
}

function readRoomForm(request: Request): RoomValues {
  const form = request.form();
  return { title: form.get('title') ?? '', staffOnly: isChecked(form, 'staff_only') };
}

/** Django's change_form.html: "Add room", or "Change room" over the room's title. */
function roomForm(
  request: Request,
  options: { action: string; values: RoomValues; errors: Errors; room?: Room },
): Response {
  const { values, errors, room } = options;
  const keep = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL);
  const title = room ? 'Change room' : 'Add room';
  const crumbs = room
    ? objectCrumbs(ROOMS_CRUMB, room.title, `/admin/rooms/${room.id}/`)
    : [ROOMS_CRUMB, { text: title }];
  return adminPage(
    request,
    room ? { title, subtitle: room.title, crumbs } : { title, crumbs },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      ${
        room
          ? html`<h2 class="subtitle">${room.title}</h2>
              ${objectTools(keep(`/admin/rooms/${room.id}/history/`))}`
          : ''
      }
      ${formError(errors)}
      <form method="post" action="${keep(options.action)}" class="admin-form">
        ${csrfInput(request)}
        ${field({ name: 'title', label: 'Title', value: values.title, error: errors.title, required: true, autofocus: !room, maxChars: ROOM_TITLE_MAX_LENGTH })}
        ${checkbox({ name: 'staff_only', label: 'Staff only', checked: values.staffOnly, help: 'Only staff users can join a staff-only room.' })}
        <p class="form-actions">
          ${saveButtons()}
          <a class="button" href="${keep(ROOM_LIST)}">Cancel</a>
          ${room ? html`<a class="danger-link" href="${keep(`/admin/rooms/${room.id}/delete/`)}">Delete</a>` : ''}
        </p>
      </form>
    </section>`,
  );
}

export function roomCreate(services: AdminServices): View {
  return async (request) => {
    const action = '/admin/rooms/new/';
    if (request.method !== 'POST') {
      return roomForm(request, {
        action,
        values: { title: '', staffOnly: false },
        errors: {},
      });
    }
    const values = readRoomForm(request);
    try {
      const room = await services.rooms.create(values.title, values.staffOnly, (trx, made) =>
        logAction(services, request, trx, {
          ...roomObject(made),
          action: ADDITION,
          message: changeMessage(true),
        }),
      );
      return afterSave(request, {
        kind: 'room',
        object: { href: `/admin/rooms/${room.id}/`, text: room.title },
        done: 'added',
        list: ROOM_LIST,
        add: action,
      });
    } catch (error) {
      if (!(error instanceof InvalidRoomTitle)) throw error;
      const errors = { title: reasonOf(error.message, /^invalid room title:\s*/) };
      return roomForm(request, { action, values, errors });
    }
  };
}

export function roomEdit(services: AdminServices): View {
  return async (request, params) => {
    const id = parseId(params.id);
    const room = id === undefined ? undefined : await services.rooms.find(id);
    if (!room) return missingObject(request, 'room', params.id);
    const action = `/admin/rooms/${room.id}/`;
    if (request.method !== 'POST') {
      return roomForm(request, { action, values: room, errors: {}, room });
    }
    const values = readRoomForm(request);
    try {
      const saved = await services.rooms.update(
        room.id,
        values.title,
        values.staffOnly,
        (trx, after) =>
          logAction(services, request, trx, {
            ...roomObject(after),
            action: CHANGE,
            message: changeMessage(false, changedLabels(room, after, ROOM_LABELS)),
          }),
      );
      if (!saved) return missingObject(request, 'room', params.id);
      const object = { href: action, text: saved.title };
      // Its members joined when anyone could: they join again, and only staff get
      // in. So does a save that finds it staff-only with that close still owed.
      const closing = saved.staffOnly && (!room.staffOnly || unsentRoomClose(request, room.id));
      if (closing && !(await closeRoomAfterChange(services, request, room.id))) {
        // The change stands; its page is where saving again sends the close.
        const here = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL)(action);
        const notice = savedNotice('room', object, 'changed');
        return redirectWith(
          request,
          here,
          [...notice, unsentRoomNotice('made staff-only')],
          'warning',
        );
      }
      return afterSave(request, {
        kind: 'room',
        object,
        done: 'changed',
        list: ROOM_LIST,
        add: '/admin/rooms/new/',
      });
    } catch (error) {
      if (!(error instanceof InvalidRoomTitle)) throw error;
      const errors = { title: reasonOf(error.message, /^invalid room title:\s*/) };
      return roomForm(request, { action, values, errors, room });
    }
  };
}

export function roomDelete(services: AdminServices): View {
  return async (request, params) => {
    const id = parseId(params.id);
    const room = id === undefined ? undefined : await services.rooms.find(id);
    if (!room) return missingObject(request, 'room', params.id);
    const keep = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL);
    if (request.method !== 'POST') {
      const href = `/admin/rooms/${room.id}/`;
      return confirmDelete(request, {
        kind: 'room',
        name: room.title,
        href,
        consequence: 'Anyone in the room can no longer send to it. This cannot be undone.',
        action: keep(`/admin/rooms/${room.id}/delete/`),
        cancel: keep(href),
        crumbs: objectCrumbs(ROOMS_CRUMB, room.title, href, 'Delete'),
      });
    }
    if (!(await deleteRoom(services, request, room)))
      return missingObject(request, 'room', params.id);
    const notice = deletedNotice('room', room.title);
    if (await tellRoomDeleted(services, request, room.id))
      return redirectWith(request, keep(ROOM_LIST), notice);
    return redirectWith(
      request,
      keep(ROOM_LIST),
      `${notice}${unsentRoomNotice('deleted')}`,
      'warning',
    );
  };
}

/** Deletes `room` with its log entry (log_deletion), in one transaction; false if it was gone. */
function deleteRoom(services: AdminServices, request: Request, room: Room): Promise<boolean> {
  return services.rooms.delete(room.id, (trx) =>
    logAction(services, request, trx, { ...roomObject(room), action: DELETION }),
  );
}

/**
 * Tells the chat sockets in deleted room `roomId` that it is gone (a leave, so
 * a page closes its pane). A leave the layer cannot take is sent again by this
 * process (the room has no page left to save); should it stop first, each of
 * the room's pages finds it gone at its next command to it (ROOM_INVALID).
 */
function tellRoomDeleted(
  services: AdminServices,
  request: Request,
  roomId: number,
): Promise<boolean> {
  return sentAfterCommit(
    services.logger,
    () => services.groupSends.groupSend(roomGroup(roomId), roomDeletedFrame(roomId)),
    "deleted, but could not tell the room's chat sockets",
    { path: request.path, roomId },
  );
}

/** delete_selected on rooms: each deleted as the room's delete view deletes it. */
function deleteSelectedRooms(services: AdminServices, request: Request): DeleteSelected<Room> {
  return {
    nouns: ROOM_NOUNS,
    source: services.rooms,
    confirm: (rooms) =>
      confirmDeleteSelected(request, rooms, {
        nouns: ROOM_NOUNS,
        crumb: ROOMS_CRUMB,
        describe: (room) => ({ name: room.title, href: `/admin/rooms/${room.id}/` }),
        consequence: 'Anyone in these rooms can no longer send to them. This cannot be undone.',
      }),
    async remove(rooms) {
      let deleted = 0;
      let untold = false;
      for (const room of rooms) {
        if (!(await deleteRoom(services, request, room))) continue;
        deleted += 1;
        if (!(await tellRoomDeleted(services, request, room.id))) untold = true;
      }
      return { deleted, warning: untold ? unsentRoomNotice('deleted', deleted) : undefined };
    },
  };
}

export function roomHistory(services: AdminServices): View {
  return async (request, params) => {
    const id = parseId(params.id);
    const room = id === undefined ? undefined : await services.rooms.find(id);
    if (!room) return missingObject(request, 'room', params.id);
    const entries = await services.log.historyOf('chat.room', room.id);
    return historyPage(request, {
      list: ROOMS_CRUMB,
      name: room.title,
      href: `/admin/rooms/${room.id}/`,
      body: historyTable(entries),
    });
  };
}

/** A room as its log entries name it: Room.__str__ is its title. */
function roomObject(room: Room): { model: LoggedModel; objectId: number; objectRepr: string } {
  return { model: 'chat.room', objectId: room.id, objectRepr: room.title };
}

/** The room form's fields and their labels (the model's verbose names), in its order. */
const ROOM_LABELS = [
  ['title', 'Title'],
  ['staffOnly', 'Staff only'],
] as const;
