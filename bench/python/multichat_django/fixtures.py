"""
The chat benchmark's users, sessions and rooms for the Django deployment, in the
database of DATABASE_URL (see settings.py): migrates it, then makes the users
(each with its own logged-in session, as Django's login() would store it) and the
rooms, and prints one JSON object, the form of bench/chat/fixtures.ts's
ChatFixtures plus the versions of what the deployment runs:

    python3 -m multichat_django.fixtures '{"users": 2000, "rooms": 10}'
"""
import json
import os
import sys
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "multichat_django.settings")
django.setup()

import channels  # noqa: E402  (after django.setup())
import channels_redis  # noqa: E402
import daphne  # noqa: E402
import psycopg2  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.hashers import PBKDF2PasswordHasher  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402

from multichat_django.chat.models import Room  # noqa: E402

# Fast hashing, as the Node fixtures (TEST_PASSWORD_ITERATIONS): nothing logs in
# with a password; the hash only feeds each session's auth hash.
ITERATIONS = 1000
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def main(users, rooms):
    call_command("migrate", verbosity=0, interactive=False)
    room_ids = [
        room.id
        for room in Room.objects.bulk_create(
            [Room(title=f"Bench room {r + 1}") for r in range(rooms)]
        )
    ]
    hasher = PBKDF2PasswordHasher()
    made = User.objects.bulk_create(
        [
            User(
                username=f"bench{i}",
                password=hasher.encode("correct horse", hasher.salt(), ITERATIONS),
                date_joined=timezone.now(),
            )
            for i in range(users)
        ]
    )
    expires = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    store = SessionStore()
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: MODEL_BACKEND,
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in made
    ]
    Session.objects.bulk_create(sessions)
    return {
        "sessionKeys": [s.session_key for s in sessions],
        "usernames": [u.username for u in made],
        "roomIds": room_ids,
        "versions": {
            "python": sys.version.split()[0],
            "django": django.get_version(),
            "channels": channels.__version__,
            "channels_redis": channels_redis.__version__,
            "daphne": daphne.__version__,
            "psycopg2": psycopg2.__version__.split()[0],
        },
    }


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    print(json.dumps(main(request["users"], request["rooms"])))
