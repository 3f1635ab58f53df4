/**
 * The rooms' and users' lists as their ModelAdmins set them up in Django: what
 * they show, how they sort, what they filter by (see list-query.ts).
 */
import { ACTION_CHECKBOX, type ListModel } from './list-query.js';

const BY_TITLE = [{ column: 'title', descending: false }];
const BY_USERNAME = [{ column: 'username', descending: false }];

/**
 * The room's admin: list_display id, title, staff_only (after the action
 * checkbox, as with Django's default delete_selected action) and a filter by its one
 * flag. Its order is the title's, as the site lists rooms everywhere (as a
 * Meta.ordering: the example's Room has none, so Django's would list newest first).
 */
export const ROOM_LIST_MODEL: ListModel = {
  fields: { id: 'integer', title: 'text', staff_only: 'boolean' },
  columns: [ACTION_CHECKBOX, 'id', 'title', 'staff_only'],
  adminOrdering: [],
  metaOrdering: BY_TITLE,
  unique: [],
  filters: [{ field: 'staff_only', title: 'staff only' }],
};

/**
 * Django's UserAdmin: its list_display, ordering and list_filter (but groups,
 * which this site has not). Its lookup_allowed refuses any lookup on the
 * password, so the password is no field here.
 */
export const USER_LIST_MODEL: ListModel = {
  fields: {
    id: 'integer',
    username: 'text',
    first_name: 'text',
    last_name: 'text',
    email: 'text',
    is_staff: 'boolean',
    is_active: 'boolean',
    is_superuser: 'boolean',
    last_login: 'datetime',
    date_joined: 'datetime',
  },
  columns: [ACTION_CHECKBOX, 'username', 'email', 'first_name', 'last_name', 'is_staff'],
  adminOrdering: BY_USERNAME,
  metaOrdering: [],
  unique: ['username'],
  filters: [
    { field: 'is_staff', title: 'staff status' },
    { field: 'is_superuser', title: 'superuser status' },
    { field: 'is_active', title: 'active' },
  ],
  refused: (name) => name.startsWith('password'),
};
