"""``python -m asgisite.serve SERVER PORT [PROCESSES] [class] [portlogs]``: the site through
``serve_with``.

With ``class``, the project's ``SiteApplication`` is handed over (``serve_with(application=)``);
with ``portlogs``, the log files are named with the port (``log_port_prefix``).
"""

import os
import sys

os.environ.setdefault("tornadopy_APP_SETTINGS", "asgisite.settings")

from tornadopy.asgi import serve_with

if __name__ == "__main__":
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    flags = sys.argv[4:]
    application = None
    if "class" in flags:
        from asgisite.application import SiteApplication as application
    log_options = {"log_port_prefix": True} if "portlogs" in flags else None
    sys.exit(
        serve_with(sys.argv[1], "127.0.0.1", int(sys.argv[2]), processes, application, log_options)
    )
