"""How Django 3.2's admin changelist reads its query (Debian's python3-django).

Reads {"queries": [...], "numbers": [...], "ranges": [[page, page_count], ...]} as
JSON on stdin and prints {"terms": the search terms ModelAdmin.get_search_results
makes of each query, "numbers": what ChangeList makes of each `p` (int(), or
null where that raises ValueError), "ranges": Paginator.get_elided_page_range
of each page, with "…" for the pages left out}.
"""
import json
import sys

import django
from django.conf import settings

settings.configure()
django.setup()

from django.core.paginator import Paginator  # noqa: E402
from django.utils.text import smart_split, unescape_string_literal  # noqa: E402


def terms(query):
    # As get_search_results (django/contrib/admin/options.py) splits a search.
    bits = []
    for bit in smart_split(query):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        bits.append(bit)
    return bits


def number(text):
    try:
        return int(text)
    except ValueError:
        return None


def elided(page, page_count):
    paginator = Paginator(range(page_count * 100), 100)
    return [str(item) for item in paginator.get_elided_page_range(page)]


given = json.load(sys.stdin)
print(
    json.dumps(
        {
            "terms": [terms(query) for query in given["queries"]],
            "numbers": [number(text) for text in given["numbers"]],
            "ranges": [elided(page, count) for page, count in given["ranges"]],
        }
    )
)
