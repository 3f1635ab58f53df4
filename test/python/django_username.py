"""How Django's user forms read a username (UsernameField, max_length 150 as the
model's column): NFKC, then "Ensure this value has at most 150 characters (it has N)."

Reads a JSON list of usernames on stdin and prints a JSON list of answers: the
max_length message, or null when the normalised name fits.
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
from django.core.exceptions import ValidationError  # noqa: E402

field = UsernameField(max_length=150)
answers = []
for username in json.load(sys.stdin):
    try:
        field.clean(username)
        answers.append(None)
    except ValidationError as error:
        answers.append(error.messages[0])
print(json.dumps(answers))
