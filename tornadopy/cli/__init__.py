"""The ``tornadopy`` command (SPEC §15).

::

    tornadopy startproject mysite        # a working project: cd mysite && python -m pytest
    tornadopy startapp blog              # a new app in the current project
    tornadopy runserver --port=8000      # = python runserver.py --port=8000
    tornadopy routes                     # URL table: pattern, name, handler, HTTP modules
    tornadopy check                      # settings problems; do caches and databases answer?

``runserver``, ``routes`` and ``check`` work on the project in the current directory (it goes
first on ``sys.path``); their settings module is ``--settings``, else ``tornadopy_APP_SETTINGS``,
else ``settings.setting`` when ``settings/setting.py`` exists. Errors are one line on stderr and
a non-zero exit status (2 for a usage error). ``python -m tornadopy.cli`` is the same command.
"""

from __future__ import annotations

import os
import sys

from tornadopy.cli.base import CommandError, Parser
from tornadopy.cli.check import add_check
from tornadopy.cli.routes import add_routes
from tornadopy.cli.runserver import add_runserver
from tornadopy.cli.scaffold import add_startapp, add_startproject

__all__ = ["CommandError", "build_parser", "main"]


def build_parser() -> Parser:
    """The ``tornadopy`` argument parser, one sub-command per command."""
    from tornadopy import __version__

    parser = Parser(
        prog="tornadopy",
        description="tornadopy: create, serve and inspect tornadopy projects.",
    )
    parser.add_argument("--version", action="version", version=f"tornadopy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    add_startproject(sub)
    add_startapp(sub)
    add_runserver(sub)
    add_routes(sub)
    add_check(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    command = f"{parser.prog} {args.command}"
    try:
        if getattr(args, "passes_extra", False):
            return int(args.func(args, extra))
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return int(args.func(args))
    except CommandError as exc:
        message = " ".join(line.strip() for line in str(exc).splitlines())
        print(f"{command}: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tornadopy routes | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
