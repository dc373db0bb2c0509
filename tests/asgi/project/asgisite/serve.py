"""``python -m asgisite.serve SERVER PORT [PROCESSES]``: the site through ``serve_with``."""

import os
import sys

os.environ.setdefault("tornadopy_APP_SETTINGS", "asgisite.settings")

from tornadopy.asgi import serve_with

if __name__ == "__main__":
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    sys.exit(serve_with(sys.argv[1], "127.0.0.1", int(sys.argv[2]), processes))
