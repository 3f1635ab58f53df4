"""Django's own password hashers, driven by the tests (Debian's python3-django).

Reads a JSON list of requests on stdin and prints a JSON list of answers:
  {"make": password, "algorithm": "pbkdf2_sha256" | "pbkdf2_sha1", "iterations": n or null,
   "salt": text or null}
      -> the encoded hash Django makes (with a fresh salt of 22 characters unless given:
         a 12-character one is what Django made before 3.2)
  {"check": password, "encoded": hash}  -> whether Django's check_password accepts it
"""
import json
import sys

import django
from django.conf import settings

settings.configure()
django.setup()

from django.contrib.auth.hashers import (  # noqa: E402
    PBKDF2PasswordHasher,
    PBKDF2SHA1PasswordHasher,
    check_password,
)

HASHERS = {"pbkdf2_sha256": PBKDF2PasswordHasher, "pbkdf2_sha1": PBKDF2SHA1PasswordHasher}

answers = []
for request in json.load(sys.stdin):
    if "make" in request:
        hasher = HASHERS[request.get("algorithm", "pbkdf2_sha256")]()
        iterations = request.get("iterations")
        answers.append(hasher.encode(request["make"], request.get("salt") or hasher.salt(), iterations))
    else:
        answers.append(check_password(request["check"], request["encoded"]))
print(json.dumps(answers))
