from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "multichat_django.chat"
    label = "chat"
