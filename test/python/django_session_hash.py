"""Django's session auth hash, driven by the tests (Debian's python3-django).

Reads a JSON list of {"secret": SECRET_KEY, "password": encoded hash} on stdin and
prints the list of what AbstractBaseUser.get_session_auth_hash returns for a user
with that stored password under that SECRET_KEY.
"""
import json
import sys

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="replaced per request",
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402

answers = []
for request in json.load(sys.stdin):
    settings.SECRET_KEY = request["secret"]
    answers.append(User(password=request["password"]).get_session_auth_hash())
print(json.dumps(answers))
