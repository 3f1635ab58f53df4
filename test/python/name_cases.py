"""Which names channels accepts: BaseChannelLayer.valid_channel_name / valid_group_name.

Reads {"names": [...]} as JSON on stdin and prints {"channel": [...], "group": [...]},
whether each name is valid as a channel name and as a group name.
"""
import json
import sys

from channels.layers import BaseChannelLayer


def valid(check, name):
    try:
        return check(name)
    except TypeError:
        return False


layer = BaseChannelLayer()
names = json.load(sys.stdin)["names"]
print(json.dumps({
    "channel": [valid(layer.valid_channel_name, name) for name in names],
    "group": [valid(layer.valid_group_name, name) for name in names],
}))
