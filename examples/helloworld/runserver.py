"""Run the helloworld example: ``python examples/helloworld/runserver.py`` (then open the URL).

Options: --port=8000 --address=127.0.0.1 --settings=settings.setting --processes=1

Pages: / (home), /login (a form with XSRF; starts a session), /profile (the session's data;
anonymous visitors are sent to /login), the "Log out" button (POST /logout), /hello/<name>,
/api/time. Sessions are kept in local memory by default (settings/setting.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("tornadopy_APP_SETTINGS", "settings.setting")

from tornadopy.webserver import run

if __name__ == "__main__":
    run()
