DEBUG = True
INSTALLED_APPS = ("coreproj.shop",)
MARKER = "other"
