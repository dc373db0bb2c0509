from tornadopy.application import Application


class SiteApplication(Application):
    """A project's own Application subclass, handed to serve_with(application=...)."""
