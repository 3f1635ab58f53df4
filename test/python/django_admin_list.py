"""What Django 3.2's admin changelist lists for a query string (Debian's python3-django).

Reads {"rooms": [{id, title, staff_only}], "users": [{id, username, email,
first_name, last_name, is_staff, is_superuser, is_active, date_joined,
last_login (ISO 8601 with an offset, or null)}], "queries":
[["rooms" | "users", query string], ...], "postgres": a URL, or null} as JSON
on stdin, puts the rows in an in-memory SQLite database, or with "postgres"
in a fresh schema of that PostgreSQL database (through Django's own backend,
Debian's python3-psycopg2; dropped at the end), and prints, for each query,
either "e" (the changelist raised IncorrectLookupParameters: Django's redirect
to ?e=1), "400" (DisallowedModelAdminLookup), "500" (anything else: Django's
server error), or {"ids": the first page's ids in order, "result_count",
"full_result_count", "headers": [{sorted, ascending, priority, primary, toggle,
remove}] of the sortable columns, "filters": [{"title", "choices": [{display,
selected, query_string}]}], "clear": the "Clear all filters" link or null}.

The admins are those Gredis's lists mirror: the room's (multichat_room_admin.py:
list_display id, title, staff_only; list_filter staff_only; search title; Meta
ordering title, as Gredis lists rooms) and Django's UserAdmin (its list_display,
list_filter without groups, search and ordering), both with Django's default
action, delete_selected, as Gredis's: its checkbox is list_display's first
column, so `o=1` sorts by the first real one.
"""
import json
import secrets
import sys
from urllib.parse import unquote, urlsplit

import django
from django.conf import settings

DATA = json.load(sys.stdin)
SCHEMA = 'django_' + secrets.token_hex(6)


def database(postgres_url):
    """Django's settings for the database the rows go in."""
    if postgres_url is None:
        return {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}
    url = urlsplit(postgres_url)
    return {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': unquote(url.path[1:]),
        'USER': unquote(url.username or ''),
        'PASSWORD': unquote(url.password or ''),
        'HOST': url.hostname or '',
        'PORT': url.port or '',
        'OPTIONS': {'options': '-c search_path=' + SCHEMA},
    }


settings.configure(
    DATABASES={'default': database(DATA.get('postgres'))},
    INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.admin'],
    USE_TZ=True,
    TIME_ZONE='UTC',  # Gredis's: dates' lookups (__year, __date…) are read in it
    SECRET_KEY='not secret: nothing is signed',
)
django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.admin.options import IncorrectLookupParameters  # noqa: E402
from django.contrib.admin.templatetags.admin_list import result_headers  # noqa: E402
from django.contrib.auth.admin import UserAdmin  # noqa: E402
from django.contrib.auth.models import Group, Permission, User  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.core.exceptions import SuspiciousOperation  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from multichat_room_admin import Room, RoomAdmin  # noqa: E402


class UsersAdmin(UserAdmin):
    list_filter = ('is_staff', 'is_superuser', 'is_active')


def main(data):
    if connection.vendor == 'postgresql':
        with connection.cursor() as cursor:
            cursor.execute('CREATE SCHEMA ' + SCHEMA)
    try:
        answers = changelists(data)
    finally:
        if connection.vendor == 'postgresql':
            with connection.cursor() as cursor:
                cursor.execute('DROP SCHEMA ' + SCHEMA + ' CASCADE')
    json.dump(answers, sys.stdout)


def changelists(data):
    with connection.schema_editor() as editor:
        # The user's many-to-many tables need their targets (PostgreSQL checks).
        for model in (ContentType, Permission, Group, User, Room):
            editor.create_model(model)
    Room.objects.bulk_create(Room(**row) for row in data['rooms'])
    User.objects.bulk_create(User(**row) for row in data['users'])
    site = admin.AdminSite()
    admins = {'rooms': RoomAdmin(Room, site), 'users': UsersAdmin(User, site)}
    superuser = User(is_superuser=True, is_staff=True, is_active=True)
    factory = RequestFactory()
    answers = []
    for kind, query in data['queries']:
        request = factory.get('/admin/list/?' + query)
        request.user = superuser
        try:
            changelist = admins[kind].get_changelist_instance(request)
        except IncorrectLookupParameters:
            answers.append('e')
            continue
        except SuspiciousOperation:  # DisallowedModelAdminLookup: Django's 400
            answers.append('400')
            continue
        except Exception:  # noqa: BLE001 - Django's own 500 (a range with no pair of values)
            answers.append('500')
            continue
        headers = [
            {
                'sorted': h['sorted'],
                'ascending': h['ascending'],
                'priority': h['sort_priority'],
                'primary': h['url_primary'],
                'toggle': h['url_toggle'],
                'remove': h['url_remove'],
            }
            for h in result_headers(changelist)
            if h['sortable']
        ]
        filters = [
            {
                'title': str(spec.title),
                'choices': [
                    {
                        'display': str(c['display']),
                        'selected': c['selected'],
                        'query_string': c['query_string'],
                    }
                    for c in spec.choices(changelist)
                ],
            }
            for spec in changelist.filter_specs
        ]
        answers.append(
            {
                'ids': [row.pk for row in changelist.result_list],
                'result_count': changelist.result_count,
                'full_result_count': changelist.full_result_count,
                'headers': headers,
                'filters': filters,
                'clear': changelist.clear_all_filters_qs if changelist.has_active_filters else None,
            }
        )
    return answers


main(DATA)
