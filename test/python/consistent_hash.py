"""Which host channels_redis picks for each name: channels_redis.utils._consistent_hash.

Reads {"names": [...], "ring_sizes": [...]} as JSON on stdin and prints, for each
ring size, the list of each name's host index.
"""
import json
import sys

from channels_redis.utils import _consistent_hash

cases = json.load(sys.stdin)
print(json.dumps([
    [_consistent_hash(name, size) for name in cases["names"]]
    for size in cases["ring_sizes"]
]))
