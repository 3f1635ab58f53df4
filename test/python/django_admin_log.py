"""What Django 3.2's admin logs and shows of a change (Debian's python3-django).

Reads JSON on stdin:
  "stored": change messages as stored in a log entry, for LogEntry.get_change_message;
  "times": instants (epoch milliseconds), for the history page's
           {{ action_time|date:"DATETIME_FORMAT" }} in UTC;
  "rooms", "users": changes as [initial, data] pairs of form values, for the
           message construct_change_message stores when the MultiChat example's
           Room form, or UserAdmin's change form (its fields Gredis has), saves
           them: a ModelForm of the model's fields, as ModelAdmin makes;
and prints the same keys with Django's answers (messages as LogEntryManager.log_action
stores them, json.dumps), plus "emails", the email each "users" change saves (the
form's instance once valid: AbstractUser.clean, which ModelForm validation runs,
lowercases the domain; the message compares the form's value, as typed), "added", the message of an addition, and "password",
what UserAdmin.user_change_password stores (AdminPasswordChangeForm).
"""
import json
import sys
from datetime import datetime, timezone

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.messages",
        "django.contrib.sessions",
    ],
    SECRET_KEY="not used: nothing is signed",
    USE_TZ=True,
    TIME_ZONE="UTC",
)
django.setup()

from django.contrib.admin.models import LogEntry  # noqa: E402
from django.contrib.admin.utils import construct_change_message  # noqa: E402
from django.contrib.auth.forms import AdminPasswordChangeForm  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import models  # noqa: E402
from django.forms import modelform_factory  # noqa: E402
from django.utils import formats  # noqa: E402


class Room(models.Model):
    """The MultiChat example's room (chat/models.py)."""

    title = models.CharField(max_length=255)
    staff_only = models.BooleanField(default=False)

    class Meta:
        app_label = "chat"


def bound(model, fields, initial, data):
    return modelform_factory(model, fields=fields)(
        data={k: v for k, v in data.items() if v is not False},
        instance=model(**initial),
    )


def constructed(model, fields, initial, data):
    return json.dumps(construct_change_message(bound(model, fields, initial, data), None, False))


def saved_email(initial, data):
    form = bound(User, user_fields, initial, data)
    return form.instance.email if form.is_valid() else None


user_fields = ["email", "is_active", "is_staff", "is_superuser"]
request = json.load(sys.stdin)
password_form = AdminPasswordChangeForm(User(username="bob"), {"password1": "x", "password2": "x"})
print(
    json.dumps(
        {
            "stored": [LogEntry(change_message=m).get_change_message() for m in request["stored"]],
            "times": [
                formats.date_format(
                    datetime.fromtimestamp(ms / 1000, timezone.utc), "DATETIME_FORMAT"
                )
                for ms in request["times"]
            ],
            "rooms": [
                constructed(Room, ["title", "staff_only"], i, d) for i, d in request["rooms"]
            ],
            "users": [constructed(User, user_fields, i, d) for i, d in request["users"]],
            "emails": [saved_email(i, d) for i, d in request["users"]],
            "added": json.dumps(construct_change_message(password_form, None, True)),
            "password": json.dumps(construct_change_message(password_form, None, False)),
        }
    )
)
