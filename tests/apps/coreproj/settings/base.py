DEBUG = True
INSTALLED_APPS = ("coreproj.shop",)
SESSION = {"session_name": "shop_sid"}
MARKER = "base"
