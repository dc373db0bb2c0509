"""``uvicorn asgisite.asgi:application`` / ``granian --interface asgi asgisite.asgi:application``."""

from tornadopy.asgi import get_asgi_application

application = get_asgi_application()  # tornadopy_APP_SETTINGS (the tests set it)
