"""What Django's forms make of text with whitespace around it (Debian's python3-django).

Reads a JSON list of strings on stdin and prints {"spaces": every code point for
which str.isspace() is true, "cleaned": what forms.CharField() (strip=True, as the
admin's text fields) returns for each string, "stripped": each string's str.strip(),
"split": each string's str.split(), "truncated": each string through the template
filter truncatewords:"2"}.
"""
import json
import sys

import django
from django.conf import settings

settings.configure()
django.setup()

from django import forms  # noqa: E402
from django.template.defaultfilters import truncatewords  # noqa: E402

field = forms.CharField(required=False)
texts = json.load(sys.stdin)
print(
    json.dumps(
        {
            "spaces": [c for c in range(sys.maxunicode + 1) if chr(c).isspace()],
            "cleaned": [field.clean(text) for text in texts],
            "stripped": [text.strip() for text in texts],
            "split": [text.split() for text in texts],
            "truncated": [truncatewords(text, 2) for text in texts],
        }
    )
)
