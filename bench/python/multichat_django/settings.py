"""
Django settings, all from the environment the benchmark sets:

- SECRET_KEY
- DATABASE_URL: postgres://user@host:port/db?search_path=S&application_name=A
  (the benchmark's own schema; the application name lets it find the backends)
- REDIS_URL and CHANNEL_PREFIX: the channel layer's Redis and key prefix
- MULTICHAT_NOTIFY_ENTER_LEAVE: "false" turns the enter/leave notices off
"""
import os
from urllib.parse import parse_qs, urlsplit

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
# The load generator's Origin is http://127.0.0.1:<port>: AllowedHostsOriginValidator
# compares its host with these.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "multichat_django.chat",
]

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SESSION_ENGINE = "django.contrib.sessions.backends.db"


def _database(url):
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    options = {}
    if "search_path" in query:
        options["options"] = f"-c search_path={query['search_path']}"
    if "application_name" in query:
        options["application_name"] = query["application_name"]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        # Persistent connections, as a deployment would configure them: with the
        # default (0) every database_sync_to_async call would open a connection.
        "CONN_MAX_AGE": None,
    }


DATABASES = {"default": _database(os.environ["DATABASE_URL"])}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ["REDIS_URL"]],
            "prefix": os.environ["CHANNEL_PREFIX"],
        },
    }
}

MULTICHAT_NOTIFY_ENTER_LEAVE = os.environ.get("MULTICHAT_NOTIFY_ENTER_LEAVE") != "false"
MULTICHAT_MAX_MESSAGE_LENGTH = 4096
