"""Django's default password validators (but the common-passwords list) and its
EmailValidator, driven by the tests (Debian's python3-django).

Reads a JSON list on stdin and prints a JSON list of answers:
  {"password": p, "user": {"username": …, "email": …, "first_name": …, "last_name": …} or null}
      -> the messages validate_password gives, in order ([] when it passes)
  {"email": e} -> whether EmailValidator accepts it
"""
import json
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    AUTH_PASSWORD_VALIDATORS=[
        {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
        {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    ],
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.contrib.auth.password_validation import validate_password  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402
from django.core.validators import validate_email  # noqa: E402

answers = []
for request in json.load(sys.stdin):
    if "email" in request:
        try:
            validate_email(request["email"])
            answers.append(True)
        except ValidationError:
            answers.append(False)
        continue
    user = User(**request["user"]) if request["user"] else None
    try:
        validate_password(request["password"], user)
        answers.append([])
    except ValidationError as error:
        answers.append(error.messages)
print(json.dumps(answers))
