"""The ASGI application Daphne serves: /chat/stream/ only (the benchmark needs no pages)."""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "multichat_django.settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (after django.setup())
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from multichat_django.chat.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("chat/stream/", ChatConsumer.as_asgi())]))
        ),
    }
)
