"""``python -m asgisite.runserver --port=N``: the site on Tornado's own server."""

import os

os.environ.setdefault("tornadopy_APP_SETTINGS", "asgisite.settings")

from tornadopy.webserver import run

if __name__ == "__main__":
    run()
