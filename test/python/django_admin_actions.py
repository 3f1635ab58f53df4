"""Django 3.2's own texts of its delete_selected action (Debian's python3-django).

Registers the room's admin (multichat_room_admin.py's, as django_admin_list.py's,
with Django's default actions) on an admin site over an in-memory SQLite
database with rooms "A" and "B", renders its changelist and answers its POSTs with
RequestFactory requests by a superuser, and prints as JSON: the action bar's
label, choices, Go button's title and counter; a row's checkbox; the
confirmation page for both rooms (title, question, summary and objects lines,
its buttons' texts, hidden fields); and the messages ("level: text") after a
Go with nothing ticked, with no action chosen, after deleting both, and after
deleting one. Reads nothing of its input.
"""
import json
import re
import sys

import django
from django.conf import settings

settings.configure(
    DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}},
    INSTALLED_APPS=[
        'django.contrib.contenttypes',
        'django.contrib.auth',
        'django.contrib.admin',
        'django.contrib.sessions',
        'django.contrib.messages',
    ],
    TEMPLATES=[
        {
            'BACKEND': 'django.template.backends.django.DjangoTemplates',
            'APP_DIRS': True,
            'OPTIONS': {
                'context_processors': [
                    'django.template.context_processors.request',
                    'django.contrib.auth.context_processors.auth',
                    'django.contrib.messages.context_processors.messages',
                ],
            },
        }
    ],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    SECRET_KEY='not secret: nothing is signed',
)
django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.messages.storage.session import SessionStorage  # noqa: E402
from django.contrib.sessions.backends.signed_cookies import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.urls import path  # noqa: E402
from multichat_room_admin import Room, RoomAdmin  # noqa: E402


site = admin.AdminSite()
site.register(Room, RoomAdmin)
urlpatterns = [path('admin/', site.urls)]


def text(markup):
    """The words of some markup, its tags dropped and its spaces collapsed."""
    return ' '.join(re.sub(r'<[^>]*>', ' ', markup).split())


def main():
    sys.stdin.read()
    call_command('migrate', verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(Room)
    Room.objects.create(title='A')
    Room.objects.create(title='B')
    root = User.objects.create_superuser('root', '', 'not a secret')
    room_admin = site._registry[Room]
    factory = RequestFactory()

    def request(method, data=None):
        made = factory.get('/admin/auth/room/') if method == 'GET' else factory.post('/admin/auth/room/', data)
        made.user = root
        made.session = SessionStore()
        made._messages = SessionStorage(made)
        made._dont_enforce_csrf_checks = True
        return made

    def messages_of(made):
        return [f'{m.level_tag}: {m.message}' for m in made._messages._queued_messages]

    def post(data):
        made = request('POST', data)
        response = room_admin.changelist_view(made)
        if hasattr(response, 'render'):
            response.render()
        return made, response

    listed = room_admin.changelist_view(request('GET'))
    listed.render()
    page = listed.content.decode()
    bar = re.search(r'<div class="actions">(.*?)</div>', page, re.S).group(1)
    answer = {
        'bar': {
            'action_label': re.search(r'<label>([^<]*?) <select', bar).group(1),
            'choices': re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', bar),
            'go_title': re.search(r'<button type="submit" class="button" title="([^"]*)"', bar).group(1),
            'counter': re.search(r'<span class="action-counter"[^>]*>([^<]*)</span>', bar).group(1),
        },
        'checkbox': re.search(r'<input type="checkbox" name="_selected_action" value="1"[^>]*>', page).group(0),
    }
    go = {'action': 'delete_selected', 'select_across': '0', 'index': '0'}
    _, confirmation = post({**go, '_selected_action': ['1', '2']})
    page = confirmation.content.decode()
    content = re.search(r'<div id="content" class="colM">(.*)<!-- END Content -->', page, re.S).group(1)
    answer['confirmation'] = {
        'title': re.search(r'<h1>([^<]*)</h1>', content).group(1),
        'question': text(re.search(r'<p>(Are you sure.*?)</p>', content, re.S).group(1)),
        'summary': re.findall(r'<li>(\w+: \d+)</li>', content),
        'objects': re.findall(r'<li>(\w+: <a href="[^"]*">[^<]*</a>)</li>', content),
        'yes': re.search(r'<input type="submit" value="([^"]*)"', content).group(1),
        'no': re.search(r'class="button cancel-link">([^<]*)<', content).group(1),
    }
    answer['hidden'] = [
        field
        for field in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', content)
        if field[0] != 'csrfmiddlewaretoken'
    ]
    nothing, _ = post(go)
    no_action, _ = post({**go, 'action': '', '_selected_action': ['1']})
    deleted, _ = post({**go, '_selected_action': ['1', '2'], 'post': 'yes'})
    Room.objects.create(title='C')
    one, _ = post({**go, '_selected_action': [str(Room.objects.get().pk)], 'post': 'yes'})
    answer['messages'] = {
        'nothing_selected': messages_of(nothing),
        'no_action': messages_of(no_action),
        'deleted': messages_of(deleted),
        'one': messages_of(one),
    }
    json.dump(answer, sys.stdout)


main()
