"""The MultiChat example's Room and the admin Gredis's room list mirrors, for
the scripts that ask Django's admin (django_admin_list.py, django_admin_actions.py).

list_display id, title, staff_only; list_filter staff_only; search title; Meta
ordering title, as Gredis lists rooms; __str__ the title, as the example's.
Imported once settings are configured and django.setup() has run: a model
needs the app registry.
"""
from django.contrib import admin
from django.db import models


class Room(models.Model):
    title = models.CharField(max_length=255)
    staff_only = models.BooleanField(default=False)

    class Meta:
        app_label = 'auth'  # any installed app: the scripts have no app of their own
        ordering = ['title']

    def __str__(self):
        return self.title


class RoomAdmin(admin.ModelAdmin):
    list_display = ('id', 'title', 'staff_only')
    list_filter = ('staff_only',)
    search_fields = ('title',)
