"""Handler mixins."""
