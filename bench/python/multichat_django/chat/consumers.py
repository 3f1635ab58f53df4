"""
MultiChat's consumer, written the way the Channels examples' multichat is: an
AsyncJsonWebsocketConsumer, the user from AuthMiddlewareStack at connect, the
database through database_sync_to_async, fan-out with group_send.

Every command re-checks, in multichat.md's order, that the user is still valid
(the session still there and still the user's: Django's get_user, which also
checks is_active and the session auth hash), that the room exists, and that a
staff-only room has a staff user: three queries, as MultiChat's worker makes.
"""
import json
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.backends.db import SessionStore

from .models import Room

MSG_TYPE_MESSAGE = 0
MSG_TYPE_ENTER = 4
MSG_TYPE_LEAVE = 5


class ClientError(Exception):
    """A command refused with an error code, sent back as {"error": code}."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


@database_sync_to_async
def get_room_or_error(session_key, user_id, room_id):
    """The room, if the connected user may still use it; else a ClientError."""
    # A fresh SessionStore: the one in the scope was loaded once, at connect.
    user = auth.get_user(SimpleNamespace(session=SessionStore(session_key)))
    if not user.is_authenticated or user.pk != user_id:
        raise ClientError("USER_HAS_TO_LOGIN")
    try:
        room = Room.objects.get(pk=room_id)
    except Room.DoesNotExist:
        raise ClientError("ROOM_INVALID")
    if room.staff_only and not user.is_staff:
        raise ClientError("ROOM_ACCESS_DENIED")
    return room


def room_id_of(value):
    """A room id given as an integer or a string of digits; else a ClientError."""
    if isinstance(value, bool):
        raise ClientError("INVALID_MESSAGE")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ClientError("INVALID_MESSAGE")


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope["user"]
        self.rooms = set()
        if user.is_anonymous:
            # Closing before accepting: Daphne refuses the handshake with 403.
            await self.close()
            return
        self.user_id = user.pk
        self.username = user.username
        self.session_key = self.scope["session"].session_key
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # Bad input gets an error frame and leaves the socket open, rather than the
        # exception AsyncJsonWebsocketConsumer would raise (which closes it).
        try:
            content = json.loads(text_data) if text_data is not None else None
        except ValueError:
            content = None
        try:
            if not isinstance(content, dict):
                raise ClientError("INVALID_MESSAGE")
            await self.receive_json(content)
        except ClientError as error:
            await self.send_json({"error": error.code})

    async def receive_json(self, content, **kwargs):
        command = content.get("command")
        if command not in ("join", "leave", "send"):
            raise ClientError("INVALID_MESSAGE")
        room_id = room_id_of(content.get("room"))
        message = None
        if command == "send":
            message = content.get("message")
            if not isinstance(message, str) or message == "":
                raise ClientError("INVALID_MESSAGE")
            if len(message) > settings.MULTICHAT_MAX_MESSAGE_LENGTH:
                raise ClientError("MESSAGE_TOO_LONG")
        room = await get_room_or_error(self.session_key, self.user_id, room_id)
        if command == "join":
            await self.join_room(room)
        elif command == "leave":
            await self.leave_room(room.id)
        else:
            await self.send_room(room, message)

    async def disconnect(self, code):
        for room_id in list(self.rooms):
            await self.leave_room(room_id, reply=False)

    async def join_room(self, room):
        if room.id not in self.rooms:
            if settings.MULTICHAT_NOTIFY_ENTER_LEAVE:
                await self.channel_layer.group_send(
                    room.group_name,
                    {"type": "chat.notice", "room_id": room.id, "username": self.username,
                     "msg_type": MSG_TYPE_ENTER},
                )
            self.rooms.add(room.id)
            await self.channel_layer.group_add(room.group_name, self.channel_name)
        await self.send_json({"join": str(room.id), "title": room.title})

    async def leave_room(self, room_id, reply=True):
        group = f"room-{room_id}"
        if room_id in self.rooms and settings.MULTICHAT_NOTIFY_ENTER_LEAVE:
            await self.channel_layer.group_send(
                group,
                {"type": "chat.notice", "room_id": room_id, "username": self.username,
                 "msg_type": MSG_TYPE_LEAVE},
            )
        self.rooms.discard(room_id)
        await self.channel_layer.group_discard(group, self.channel_name)
        if reply:
            await self.send_json({"leave": str(room_id)})

    async def send_room(self, room, message):
        if room.id not in self.rooms:
            raise ClientError("ROOM_ACCESS_DENIED")
        await self.channel_layer.group_send(
            room.group_name,
            {"type": "chat.message", "room_id": room.id, "username": self.username,
             "message": message},
        )

    # Handlers of the group's events, one per "type".

    async def chat_message(self, event):
        await self.send_json(
            {"room": str(event["room_id"]), "message": event["message"],
             "username": event["username"], "msg_type": MSG_TYPE_MESSAGE}
        )

    async def chat_notice(self, event):
        await self.send_json(
            {"room": str(event["room_id"]), "username": event["username"],
             "msg_type": event["msg_type"]}
        )
