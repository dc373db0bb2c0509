"""Decorators for handlers and application code.

- :func:`tornadopy.decorators.async_execute.async_execute` -- run a blocking function in the
  shared thread pool and await its result.
"""
