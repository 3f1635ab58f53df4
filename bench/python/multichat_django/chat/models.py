from django.db import models


class Room(models.Model):
    """A chat room (table chat_room, as in multichat.md)."""

    title = models.CharField(max_length=255)
    staff_only = models.BooleanField(default=False)

    class Meta:
        app_label = "chat"
        db_table = "chat_room"

    def __str__(self):
        return self.title

    @property
    def group_name(self):
        return f"room-{self.id}"
