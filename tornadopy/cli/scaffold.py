"""``startproject`` and ``startapp``: copy ``tornadopy/project_template`` with names filled in.

The template tree has two parts: ``project/`` (runserver.py, settings, templates/base.html,
static, tests/conftest.py, pyproject.toml) and ``app/`` (the app package, its page template and
its test). ``startproject`` writes both (the app is ``home``); ``startapp`` writes ``app/`` into
the current project. In every file, ``{{ project_name }}``, ``{{ app_name }}`` and
``{{ url_prefix }}`` are replaced (nothing else: Tornado's own ``{{ ... }}`` stay); in file and
directory names, ``project_name`` and ``app_name`` are; the ``.tmpl`` suffix (which keeps the
template's Python files away from linters and test collectors) is dropped.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import keyword
import os
import sys
from pathlib import Path

from tornadopy.cli.base import CommandError, project_settings
from tornadopy.conf import settings

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "project_template"
SUFFIX = ".tmpl"
#: the app ``startproject`` creates
DEFAULT_APP = "home"
#: names a project directory already uses for something else
RESERVED = frozenset({"settings", "tests", "templates", "static", "logs", "runserver", "tornadopy"})


# ---------------------------------------------------------------- names


def _is_cwd(path: str) -> bool:
    return path in ("", ".") or os.path.abspath(path) == os.getcwd()


def module_exists(name: str) -> bool:
    """True when ``import name`` would find something other than the current directory's
    contents (the standard library, an installed package, a built-in module)."""
    if name in sys.builtin_module_names:
        return True
    paths = [p for p in sys.path if isinstance(p, str) and not _is_cwd(p)]
    for finder in sys.meta_path:
        try:
            if finder is importlib.machinery.PathFinder:
                spec = importlib.machinery.PathFinder.find_spec(name, paths)
            else:
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(name, None) if find_spec is not None else None
        except (ImportError, ValueError):
            continue
        if spec is not None:
            return True
    return False


def validate_name(name: str, kind: str) -> None:
    """Refuse a project or app name that is not a Python identifier or would shadow a module."""
    if not name.isidentifier():
        raise CommandError(
            f"{name!r} is not a valid {kind} name: use a Python identifier (letters, digits and "
            "underscores, not starting with a digit)"
        )
    if keyword.iskeyword(name):
        raise CommandError(f"{name!r} is a Python keyword; choose another {kind} name")
    if name in RESERVED:
        raise CommandError(
            f"{name!r} is used by the project layout itself; choose another {kind} name"
        )
    if module_exists(name):
        raise CommandError(
            f"{name!r} clashes with the existing Python module {name!r}; choose another {kind} name"
        )


# ---------------------------------------------------------------- rendering


def render_text(text: str, context: dict[str, str]) -> str:
    for key, value in context.items():
        text = text.replace("{{ " + key + " }}", value)
    return text


def render_name(name: str, context: dict[str, str]) -> str:
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    for key in ("project_name", "app_name"):
        if key in context:
            name = name.replace(key, context[key])
    return name


def plan(part: str, dest: Path, context: dict[str, str]) -> list[tuple[Path, Path]]:
    """``(template file, destination file)`` pairs for one part of the template tree."""
    root = TEMPLATE_DIR / part
    if not root.is_dir():
        raise CommandError(f"the project template is missing from the installation ({root})")
    pairs = []
    for src in sorted(root.rglob("*")):
        rel = src.relative_to(root)
        if not src.is_file() or any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            continue
        target = dest.joinpath(*(render_name(p, context) for p in rel.parts))
        pairs.append((src, target))
    return pairs


def write(pairs: list[tuple[Path, Path]], context: dict[str, str]) -> None:
    for src, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_text(src.read_text(encoding="utf-8"), context), encoding="utf-8")
        if target.name == "runserver.py":
            target.chmod(0o755)


# ---------------------------------------------------------------- commands


def add_startproject(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "startproject",
        help="create a project (runserver.py, settings, one app, templates, a test)",
        description="Create a working project: runserver.py, settings/setting.py (development, "
        "embedded defaults), settings/setting_online.py (production), the app `home` with its "
        "urls, handlers, template and test. `cd NAME && python -m pytest` passes right away.",
    )
    p.add_argument("name", help="project name (a Python identifier)")
    p.add_argument("directory", nargs="?", help="where to write it (default: ./NAME)")
    p.set_defaults(func=startproject)


def startproject(args: argparse.Namespace) -> int:
    name: str = args.name
    validate_name(name, "project")
    dest = Path(args.directory or name).resolve()
    if dest.exists():
        if not dest.is_dir():
            raise CommandError(f"{dest} exists and is not a directory")
        if any(dest.iterdir()):
            raise CommandError(f"{dest} already exists and is not empty; choose another directory")
    context = {"project_name": name, "app_name": DEFAULT_APP, "url_prefix": ""}
    pairs = plan("project", dest, context) + plan("app", dest, context)
    dest.mkdir(parents=True, exist_ok=True)
    write(pairs, context)
    (dest / "logs").mkdir(exist_ok=True)
    shown = os.path.relpath(dest) if not os.path.relpath(dest).startswith("..") else str(dest)
    print(f"Created project {name!r} in {dest}")
    print(f"  cd {shown} && python -m pytest && python runserver.py")
    return 0


def add_startapp(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "startapp",
        help="create an app in the current project (urls.py, handlers/, a template, a test)",
        description="Create an app package in the current project directory (urls.py, "
        "handlers/, templates/NAME/index.html, tests/test_NAME.py), served under /NAME/, and "
        "print the line to add to INSTALLED_APPS.",
    )
    p.add_argument("name", help="app name (a Python identifier)")
    p.set_defaults(func=startapp)


def startapp(args: argparse.Namespace) -> int:
    name: str = args.name
    validate_name(name, "app")
    project = Path.cwd()
    if not (project / "settings").is_dir():
        raise CommandError(
            "startapp runs in a project directory (one with settings/, as made by "
            "`tornadopy startproject`)"
        )
    context = {"project_name": project.name, "app_name": name, "url_prefix": f"/{name}"}
    pairs = plan("app", project, context)
    if (project / name).exists():
        raise CommandError(f"{project / name} already exists")
    existing = [str(t.relative_to(project)) for _, t in pairs if t.exists()]
    if existing:
        raise CommandError(f"refusing to overwrite {', '.join(existing)}")
    write(pairs, context)
    print(f"Created app {name!r} in {project / name} (served under /{name}/)")
    print(f"Add it to INSTALLED_APPS in settings/setting.py: {installed_apps_line(name)}")
    return 0


def installed_apps_line(name: str) -> str:
    """``INSTALLED_APPS = (..., 'name')`` from the project's current settings (best effort)."""
    apps: tuple[str, ...] = ()
    try:
        with project_settings("startapp", None):
            apps = tuple(str(a) for a in settings.INSTALLED_APPS)
    except Exception:  # a project whose settings do not import yet: still print the line
        pass
    names = [f'"{a}"' for a in dict.fromkeys((*apps, name))]
    return "INSTALLED_APPS = (" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
