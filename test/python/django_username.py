"""How Django reads a username: its user forms (UsernameField, max_length 150 as the
model's column: NFKC, then "Ensure this value has at most 150 characters (it has N).")
or, for {"model": name}, createsuperuser (the model field's clean() on the name as
typed, its messages joined by "; ", as Command._validate_username joins them).

Reads a JSON list of usernames on stdin and prints a JSON list of answers: the
message, or null when the name passes.
"""
import json
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    SECRET_KEY="only imported, never used",
)
django.setup()

from django.contrib.auth.forms import UsernameField  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402

field = UsernameField(max_length=150)
model_field = User._meta.get_field("username")
answers = []
for username in json.load(sys.stdin):
    try:
        if isinstance(username, dict):
            model_field.clean(username["model"], None)
        else:
            field.clean(username)
        answers.append(None)
    except ValidationError as error:
        answers.append("; ".join(error.messages) if isinstance(username, dict) else error.messages[0])
print(json.dumps(answers))
