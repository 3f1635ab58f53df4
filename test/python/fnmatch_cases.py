"""How channels_redis matches its capacity patterns: re.compile(fnmatch.translate(p)).match(name).

Reads {"patterns": [...], "names": [...]} as JSON on stdin and prints, for each
pattern, the list of whether each name matches it.
"""
import fnmatch
import json
import re
import sys

cases = json.load(sys.stdin)
print(json.dumps([
    [bool(re.compile(fnmatch.translate(pattern)).match(name)) for name in cases["names"]]
    for pattern in cases["patterns"]
]))
