from coreproj.settings.prod_ok import *  # noqa: F403

SHUTDOWN_GRACE = 1.5
