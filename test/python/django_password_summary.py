"""What Django 3.2's admin shows of a stored password (Debian's python3-django).

Reads a JSON list of encoded passwords (auth_user.password values) on stdin and
prints, for each, the entries ReadOnlyPasswordHashWidget shows on the user change
page, as [label, value] pairs, value null where its template shows none ({% if
entry.value %}); or null where Django's page fails on that value (a hash its
hasher cannot decode). The hashers are the two Gredis knows, as in a Django
project whose PASSWORD_HASHERS are those.
"""
import json
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    SECRET_KEY="not used: the widget signs nothing",
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ],
)
django.setup()

from django.contrib.auth.forms import ReadOnlyPasswordHashWidget  # noqa: E402


def summary(encoded):
    try:
        context = ReadOnlyPasswordHashWidget().get_context("password", encoded, {})
    except Exception:  # noqa: BLE001 -- the admin page would fail (500) on this value
        return None
    return [
        [str(entry["label"]), str(entry["value"]) if entry.get("value") else None]
        for entry in context["summary"]
    ]


print(json.dumps([summary(encoded) for encoded in json.load(sys.stdin)]))
