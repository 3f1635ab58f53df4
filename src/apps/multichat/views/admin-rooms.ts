/** The admin's rooms (staff): list, add, change, delete and history. */
import { html, type HtmlValue } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import type { Response } from '../../../worker/http/response.js';
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
import type { ChangeList, KeepFilters, ListNouns } from './changelist.js';
import type { DeleteSelected } from './changelist-actions.js';
import { sortableHeader } from './list-controls.js';
import { ROOM_LIST_MODEL } from './list-models.js';
import { ADDITION, CHANGE } from '../admin-log.js';
import { changeMessage } from '../change-message.js';
import {
  ROOMS_CRUMB,
  adminPage,
  changedLabels,
  isChecked,
  logAction,
  missingObject,
  objectCrumbs,
  objectTools,
  reasonOf,
  redirectWith,
  saveButtons,
  savedNotice,
  yesNo,
  ROOM_LIST,
} from './admin-parts.js';
import {
  addPath,
  afterSave,
  changeListView,
  deleteLogged,
  deleteSelected,
  deleteView,
  findObject,
  historyView,
  keepFilters,
  loggedObject,
  objectLink,
  objectPath,
  objectsTable,
  type AdminModel,
} from './admin-model.js';

/** The list's nouns, for its count here and on the dashboard, and its search label. */
export const ROOM_NOUNS: ListNouns = { singular: 'room', plural: 'rooms', searchedBy: 'title' };

/** The rooms' admin: a room is named by its title (Room.__str__). */
export const ROOM_ADMIN: AdminModel<Room> = {
  kind: 'room',
  nouns: ROOM_NOUNS,
  list: ROOM_LIST,
  listModel: ROOM_LIST_MODEL,
  crumb: ROOMS_CRUMB,
  logged: 'chat.room',
  repository: (services) => services.rooms,
  find: (services, id) => services.rooms.find(id),
  name: (room) => room.title,
};

export function roomList(services: AdminServices): View {
  return changeListView(services, ROOM_ADMIN, {
    table: roomsTable,
    deleteSelected: (request) => deleteSelectedRooms(services, request),
    empty: html`<p class="empty">
      No rooms yet. <a href="${addPath(ROOM_ADMIN)}">Add the first one</a>.
    </p>`,
  });
}

/**
 * Rooms with id, title and staff-only under headers that sort by them, each
 * linking to its edit and delete pages.
 */
function roomsTable(list: ChangeList<Room>, keep: KeepFilters): HtmlValue {
  return objectsTable(ROOM_ADMIN, list, keep, {
    headers: html`${sortableHeader(list, 1, 'ID')} ${sortableHeader(list, 2, 'Title')}
    ${sortableHeader(list, 3, 'Staff only')}`,
    row: (room) =>
      html`<td class="num">${room.id}</td>
        <th scope="row">
          <a href="${keep(objectPath(ROOM_ADMIN, room.id))}">${room.title}</a>
        </th>
        <td>${yesNo(room.staffOnly)}</td>`,
    link: (room) =>
      html`<a href="${keep(objectPath(ROOM_ADMIN, room.id, 'delete/'))}" class="danger-link"
        >Delete<span class="visually-hidden"> ${room.title}</span></a
      >`,
  });
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
  const keep = keepFilters(request, ROOM_ADMIN);
  const title = room ? 'Change room' : 'Add room';
  const crumbs = room
    ? objectCrumbs(ROOMS_CRUMB, room.title, objectPath(ROOM_ADMIN, room.id))
    : [ROOMS_CRUMB, { text: title }];
  return adminPage(
    request,
    room ? { title, subtitle: room.title, crumbs } : { title, crumbs },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      ${
        room
          ? html`<h2 class="subtitle">${room.title}</h2>
              ${objectTools(keep(objectPath(ROOM_ADMIN, room.id, 'history/')))}`
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
          ${room ? html`<a class="danger-link" href="${keep(objectPath(ROOM_ADMIN, room.id, 'delete/'))}">Delete</a>` : ''}
        </p>
      </form>
    </section>`,
  );
}

export function roomCreate(services: AdminServices): View {
  return async (request) => {
    const action = addPath(ROOM_ADMIN);
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
          ...loggedObject(ROOM_ADMIN, made),
          action: ADDITION,
          message: changeMessage(true),
        }),
      );
      return afterSave(request, ROOM_ADMIN, room, { done: 'added' });
    } catch (error) {
      if (!(error instanceof InvalidRoomTitle)) throw error;
      const errors = { title: reasonOf(error.message, /^invalid room title:\s*/) };
      return roomForm(request, { action, values, errors });
    }
  };
}

export function roomEdit(services: AdminServices): View {
  return async (request, params) => {
    const room = await findObject(services, ROOM_ADMIN, params);
    if (!room) return missingObject(request, 'room', params.id);
    const action = objectPath(ROOM_ADMIN, room.id);
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
            ...loggedObject(ROOM_ADMIN, after),
            action: CHANGE,
            message: changeMessage(false, changedLabels(room, after, ROOM_LABELS)),
          }),
      );
      if (!saved) return missingObject(request, 'room', params.id);
      // Its members joined when anyone could: they join again, and only staff get
      // in. So does a save that finds it staff-only with that close still owed.
      const closing = saved.staffOnly && (!room.staffOnly || unsentRoomClose(request, room.id));
      if (closing && !(await closeRoomAfterChange(services, request, room.id))) {
        // The change stands; its page is where saving again sends the close.
        const here = keepFilters(request, ROOM_ADMIN)(action);
        const notice = savedNotice('room', objectLink(ROOM_ADMIN, saved), 'changed');
        return redirectWith(
          request,
          here,
          [...notice, unsentRoomNotice('made staff-only')],
          'warning',
        );
      }
      return afterSave(request, ROOM_ADMIN, saved, { done: 'changed' });
    } catch (error) {
      if (!(error instanceof InvalidRoomTitle)) throw error;
      const errors = { title: reasonOf(error.message, /^invalid room title:\s*/) };
      return roomForm(request, { action, values, errors, room });
    }
  };
}

export function roomDelete(services: AdminServices): View {
  return deleteView(services, ROOM_ADMIN, {
    consequence: () => 'Anyone in the room can no longer send to it. This cannot be undone.',
    afterDelete: (request, room) => tellRoomDeleted(services, request, room.id),
    unsent: unsentRoomNotice('deleted'),
  });
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
  return deleteSelected(services, request, ROOM_ADMIN, {
    consequence: () => 'Anyone in these rooms can no longer send to them. This cannot be undone.',
    async remove(rooms) {
      let deleted = 0;
      let untold = false;
      for (const room of rooms) {
        if (!(await deleteLogged(services, request, ROOM_ADMIN, room))) continue;
        deleted += 1;
        if (!(await tellRoomDeleted(services, request, room.id))) untold = true;
      }
      return { deleted, warning: untold ? unsentRoomNotice('deleted', deleted) : undefined };
    },
  });
}

export function roomHistory(services: AdminServices): View {
  return historyView(services, ROOM_ADMIN);
}

/** The room form's fields and their labels (the model's verbose names), in its order. */
const ROOM_LABELS = [
  ['title', 'Title'],
  ['staffOnly', 'Staff only'],
] as const;
