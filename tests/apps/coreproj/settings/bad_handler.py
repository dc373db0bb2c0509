DEBUG = False
INSTALLED_APPS = ("coreproj.badurls",)
SESSION = {"secret_key": "a-real-session-secret-0123456789"}
TOKEN = {"secret_key": "a-real-token-secret-0123456789"}
TORNADO_CONF = {"cookie_secret": "a-real-cookie-secret-0123456789"}
LOGGING = ()
