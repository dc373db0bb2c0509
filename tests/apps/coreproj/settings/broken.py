DEBUG = True
raise RuntimeError("settings exploded")
