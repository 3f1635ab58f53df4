"""
Daphne's own command line, with its log records also printed to stdout as JSON
lines, the form the benchmark reads from every server: {"level", "msg", "text"},
levels as pino numbers, "msg" the logging call's format string (so that the
benchmark counts warnings by kind, not one per connection) and "text" the
message. It waits for "Listening on TCP address <host>:<port>" (so `-p 0` works).

    python3 -m multichat_django.serve -v 0 -b 127.0.0.1 -p 0 multichat_django.asgi:application

`-v 0` turns off Daphne's access log (a line per connection, which the Node
servers do not write either); this handler keeps INFO, which carries the port.
"""
import json
import logging
import sys

from daphne.cli import CommandLineInterface

PINO_LEVELS = {"DEBUG": 20, "INFO": 30, "WARNING": 40, "ERROR": 50, "CRITICAL": 60}


class JsonLines(logging.Handler):
    def emit(self, record):
        line = {
            "level": PINO_LEVELS.get(record.levelname, 30),
            "msg": str(record.msg),
            "text": record.getMessage(),
        }
        if record.exc_info:
            line["err"] = self.format(record)
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    root = logging.getLogger()
    root.addHandler(JsonLines())
    # Daphne's logging.basicConfig is a no-op once the root logger has a handler.
    root.setLevel(logging.INFO)
    CommandLineInterface.entrypoint()
