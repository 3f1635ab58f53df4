"""
MultiChat as a Django user would deploy it today: Django Channels 4 consumers in
Daphne, channels_redis's RedisChannelLayer, Django's auth, sessions and ORM on
PostgreSQL. The chat benchmark's yardstick (bench/README.md, Chat); its WebSocket
protocol is /work/shared/spec/multichat.md.
"""
