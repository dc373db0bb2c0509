"""The ``tornadopy`` command (SPEC §15): real subprocesses, real projects, real servers."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from tornadopy.cli.samples import sample_paths

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HELLOWORLD = os.path.join(ROOT, "examples", "helloworld")
SETTINGS_VARS = ("tornadopy_APP_SETTINGS", "TORNADOPY_APP_SETTINGS")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra)
    return env


def cli(*args, cwd, timeout=60, env=None):
    """``python -m tornadopy.cli ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "tornadopy.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or clean_env(),
    )


def one_line_error(proc):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(proc, port, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.communicate()}") from None
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"server did not listen on {port}: {proc.communicate()}")


def fetch(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.status, resp.read()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def project(tmp_path):
    """A project made by ``startproject mysite`` in a temporary directory."""
    proc = cli("startproject", "mysite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "mysite"


def write_settings(directory, name, body):
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return name


def check_lines(proc):
    """``{item: (status, line)}`` from check's output."""
    out = {}
    for line in proc.stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "FAIL"):
            item = rest.strip().split(": ", 1)[0]
            out[item] = (status, line)
    return out


# ---------------------------------------------------------------- the command itself


def test_console_script_help_lists_every_command():
    script = os.path.join(os.path.dirname(sys.executable), "tornadopy")
    assert os.path.exists(script), "the console script is missing: pip install -e ."
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for command in ("startproject", "startapp", "runserver", "routes", "check"):
        assert command in proc.stdout


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["routes", "--bogus"]])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args):
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line_error(proc).startswith("tornadopy")


# ---------------------------------------------------------------- startproject


def test_startproject_writes_the_seed_layout(project):
    for rel in (
        "runserver.py",
        "settings/__init__.py",
        "settings/setting.py",
        "settings/setting_online.py",
        "home/__init__.py",
        "home/urls.py",
        "home/handlers/main_handler.py",
        "home/handlers/api_handler.py",
        "templates/base.html",
        "templates/home/index.html",
        "static/style.css",
        "tests/test_home.py",
        "pyproject.toml",
    ):
        assert (project / rel).is_file(), rel
    assert (project / "logs").is_dir()
    assert not list(project.rglob("*.tmpl"))
    assert not [p for p in project.rglob("*") if p.is_file() and "{{ app_name }}" in p.read_text()]
    setting = (project / "settings" / "setting.py").read_text()
    assert "DEBUG = True" in setting and 'INSTALLED_APPS = ("home",)' in setting
    assert "LocMemCache" in setting and "sqlite+aiosqlite" in setting
    online = (project / "settings" / "setting_online.py").read_text()
    assert "DEBUG = False" in online and 'os.environ.get("TORNADOPY_SESSION_SECRET"' in online
    runserver = (project / "runserver.py").read_text()
    assert 'os.environ.setdefault("tornadopy_APP_SETTINGS", "settings.setting")' in runserver
    assert "run()" in runserver


@pytest.mark.slow
def test_startproject_tests_pass_right_away(project):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_startproject_runserver_py_serves_the_home_page(project):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "runserver.py", f"--port={port}"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        wait_for_port(proc, port)
        status, body = fetch(port, "/")
        assert status == 200 and b"<h1>mysite</h1>" in body
        status, body = fetch(port, "/api/hello?name=cli")
        assert json.loads(body) == {"message": "Hello, cli!"}
    finally:
        assert stop(proc) == 0
    assert (project / "logs" / "access.log").exists()


def test_startproject_online_settings_refuse_to_start_without_secrets(project):
    proc = subprocess.run(
        [
            sys.executable,
            "runserver.py",
            f"--port={free_port()}",
            "--settings=settings.setting_online",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert proc.returncode == 1
    assert "SESSION['secret_key']" in proc.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("json", "clashes with the existing Python module 'json'"),
        ("tornado", "clashes with the existing Python module 'tornado'"),
        ("site", "clashes with the existing Python module 'site'"),
        ("1site", "not a valid project name"),
        ("my-site", "not a valid project name"),
        ("class", "Python keyword"),
        ("settings", "used by the project layout"),
    ],
)
def test_startproject_refuses_invalid_names(tmp_path, name, why):
    proc = cli("startproject", name, cwd=tmp_path)
    assert proc.returncode == 1
    assert why in one_line_error(proc)
    assert list(tmp_path.iterdir()) == []


def test_startproject_refuses_a_non_empty_directory_and_accepts_an_empty_one(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    proc = cli("startproject", "mysite", "busy", cwd=tmp_path)
    assert proc.returncode == 1
    assert "not empty" in one_line_error(proc)
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]

    (tmp_path / "empty").mkdir()
    proc = cli("startproject", "mysite", "empty", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "empty" / "runserver.py").is_file()


def test_startproject_name_may_be_a_directory_in_the_current_directory(tmp_path):
    # an empty ./mysite must not count as "an existing module called mysite"
    (tmp_path / "mysite").mkdir()
    proc = cli("startproject", "mysite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- startapp


@pytest.mark.slow
def test_startapp_creates_an_app_whose_tests_pass_and_prints_installed_apps(project):
    proc = cli("startapp", "blog", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert 'INSTALLED_APPS = ("home", "blog")' in proc.stdout
    for rel in (
        "blog/__init__.py",
        "blog/urls.py",
        "blog/handlers/__init__.py",
        "blog/handlers/main_handler.py",
        "templates/blog/index.html",
        "tests/test_blog.py",
    ):
        assert (project / rel).is_file(), rel
    assert 'pattern=r"/blog/?"' in (project / "blog" / "urls.py").read_text()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout

    # once installed, its routes are served
    setting = project / "settings" / "setting.py"
    setting.write_text(setting.read_text().replace('("home",)', '("home", "blog")'))
    routes = cli("routes", "--json", cwd=project)
    assert routes.returncode == 0, routes.stderr
    names = {r["name"]: r["handler"] for r in json.loads(routes.stdout)}
    assert names["blog:index"] == "blog.handlers.main_handler.Index"


def test_startapp_refuses_an_existing_app_bad_names_and_non_projects(project, tmp_path):
    assert cli("startapp", "home", cwd=project).returncode == 1
    proc = cli("startapp", "json", cwd=project)
    assert proc.returncode == 1 and "clashes" in one_line_error(proc)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    proc = cli("startapp", "blog", cwd=outside)
    assert proc.returncode == 1
    assert "project directory" in one_line_error(proc)
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------- runserver


def test_runserver_serves_the_project_in_the_current_directory(project):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tornadopy.cli", "runserver", "--port", str(port)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        wait_for_port(proc, port)
        status, body = fetch(port, "/")
        assert status == 200 and b"<h1>mysite</h1>" in body
    finally:
        assert stop(proc) == 0
    out = proc.stdout.read()
    assert "settings: settings.setting" in out and "apps: home" in out


def test_runserver_takes_the_settings_option_and_processes(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tornadopy.cli",
            "runserver",
            f"--port={port}",
            "--settings=settings.setting",
            "--processes=2",
            f"--logging_dir={tmp_path}",
        ],
        cwd=HELLOWORLD,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        wait_for_port(proc, port)
        status, body = fetch(port, "/hello/cli")
        assert status == 200 and body == b"Hello, cli!"
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 2
    finally:
        assert stop(proc) == 0
    assert (tmp_path / "access.log").exists()


def test_runserver_without_settings_is_a_one_line_error(tmp_path):
    proc = cli("runserver", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no settings module" in one_line_error(proc)


def test_runserver_unknown_option_is_a_one_line_error(project):
    proc = cli("runserver", "--frobnicate=1", cwd=project)
    assert proc.returncode == 2
    assert "frobnicate" in one_line_error(proc)


@pytest.mark.slow
def test_runserver_server_option(project):
    """--server=uvicorn goes through tornadopy.asgi.serve_with when it exists (and says it is not
    available otherwise); an unknown server is a usage error."""
    proc = cli("runserver", "--server=bogus", cwd=project)
    assert proc.returncode == 2
    assert "invalid choice: 'bogus'" in one_line_error(proc)
    try:
        import tornadopy.asgi as asgi
    except ModuleNotFoundError:
        asgi = None
    port = free_port()
    if getattr(asgi, "serve_with", None) is None:
        proc = cli("runserver", "--server=uvicorn", f"--port={port}", cwd=project)
        assert proc.returncode == 1
        assert "--server=uvicorn is not available yet" in one_line_error(proc)
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "tornadopy.cli", "runserver", "--server=uvicorn", f"--port={port}"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        wait_for_port(server, port)
        status, body = fetch(port, "/")
        assert status == 200 and b"<h1>mysite</h1>" in body
        assert "tornadopy (uvicorn" in server.stdout.readline()
    finally:
        # uvicorn re-raises the SIGTERM it handled once it has shut down (-15): the exit status
        # is serve_with()'s business; here it must stop
        assert stop(server) in (0, -signal.SIGTERM)


# ---------------------------------------------------------------- routes


def helloworld_routes():
    proc = cli("routes", "--json", cwd=HELLOWORLD)
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout) if r["name"]}


def test_routes_of_helloworld_name_handlers_and_modules():
    rows = helloworld_routes()
    assert rows["Index"]["pattern"] == "/?"
    assert rows["Index"]["handler"] == "main.handlers.main_handler.Index"
    assert rows["Hello"]["handler"] == "main.handlers.main_handler.Hello"
    assert rows["ApiTime"]["handler"] == "main.handlers.api_handler.Time"
    index = rows["Index"]["paths"]
    assert len(index) == 1
    assert index[0]["modules"] == [
        {"module": "main.modules.PoweredBy", "source": "COMMON_MODULES", "key": None, "kind": None}
    ]
    assert index[0]["off"] == []
    for path in rows["ApiTime"]["paths"]:
        assert path["modules"] == []
        assert path["off"] == [
            {
                "module": "main.modules.PoweredBy",
                "source": "ROUTE_MODULES",
                "key": "^/api/",
                "kind": "regex",
            }
        ]


def test_routes_table_of_helloworld():
    proc = cli("routes", cwd=HELLOWORLD)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[1:]}
    assert lines["Index"].split()[:3] == ["/?", "Index", "main.handlers.main_handler.Index"]
    assert lines["Index"].rstrip().endswith("  main.modules.PoweredBy")
    assert lines["ApiTime"].rstrip().endswith("!main.modules.PoweredBy (regex '^/api/')")
    static = [line for line in proc.stdout.splitlines() if line.startswith("/static/")]
    assert static and static[0].split()[2] == "tornado.web.StaticFileHandler"


def test_routes_name_keys_regex_keys_and_all(project):
    (project / "home" / "modules.py").write_text(
        textwrap.dedent(
            """
            from tornadopy.httpmodule import BaseHttpModule

            class A(BaseHttpModule):
                async def begin_request(self, handler, clear): pass

            class B(BaseHttpModule):
                async def begin_request(self, handler, clear): pass

            class C(BaseHttpModule):
                async def begin_request(self, handler, clear): pass
            """
        )
    )
    write_settings(
        project / "settings",
        "modules",
        """
        from settings.setting import *  # noqa: F403
        COMMON_MODULES = ("home.modules.A", "home.modules.B")
        ROUTE_MODULES = {
            "home:index": ["!all", "home.modules.C"],
            "^/api/hello/$": ["!home.modules.B", "home.modules.C"],
            "hello": ["home.modules.B"],
        }
        """,
    )
    proc = cli("routes", "--json", "--settings=settings.modules", cwd=project)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout) if r["name"]}

    (index,) = rows["home:index"]["paths"]
    assert [(m["module"], m["key"], m["kind"]) for m in index["modules"]] == [
        ("home.modules.C", "home:index", "name")
    ]
    assert {(m["module"], m["key"]) for m in index["off"]} == {
        ("home.modules.A", "home:index"),
        ("home.modules.B", "home:index"),
    }

    # "/api/hello/" and "/api/hello" match different regex keys: both are shown
    by_path = {p["path"]: p for p in rows["home:hello"]["paths"]}
    assert set(by_path) == {"/api/hello/", "/api/hello"}
    slash = by_path["/api/hello/"]
    assert [(m["module"], m["key"]) for m in slash["modules"]] == [
        ("home.modules.A", None),
        ("home.modules.C", "^/api/hello/$"),
        ("home.modules.B", "hello"),  # switched off by one key, added back by another
    ]
    bare = by_path["/api/hello"]
    assert [(m["module"], m["key"]) for m in bare["modules"]] == [
        ("home.modules.A", None),
        ("home.modules.B", None),
    ]
    table = cli("routes", "--settings=settings.modules", cwd=project).stdout
    line = next(line for line in table.splitlines() if " home:hello " in line)
    assert "/api/hello/: home.modules.A, home.modules.C (+ regex '^/api/hello/$')" in line


def test_routes_without_http_module_middleware_say_na(project):
    write_settings(
        project / "settings",
        "nomodules",
        """
        from settings.setting import *  # noqa: F403
        MIDDLEWARE_CLASSES = ("tornadopy.middleware.accesslog.AccessLogMiddleware",)
        """,
    )
    proc = cli("routes", "--json", "--settings=settings.nomodules", cwd=project)
    rows = [r for r in json.loads(proc.stdout) if r["name"] == "home:index"]
    assert rows[0]["modules_apply"] is False and rows[0]["paths"] == []


def test_routes_with_a_broken_settings_module_is_a_one_line_error(project):
    proc = cli("routes", "--settings=settings.nothere", cwd=project)
    assert proc.returncode == 1
    assert "settings.nothere" in one_line_error(proc)
    write_settings(
        project / "settings",
        "badapp",
        """
        from settings.setting import *  # noqa: F403
        INSTALLED_APPS = ("home", "missingapp")
        """,
    )
    proc = cli("routes", "--settings=settings.badapp", cwd=project)
    assert proc.returncode == 1
    assert "missingapp" in one_line_error(proc)


@pytest.mark.parametrize(
    ("pattern", "paths"),
    [
        ("/?", ["/"]),
        ("/api/time/?", ["/api/time/", "/api/time"]),
        (r"/hello/(?P<name>\w+)/?", ["/hello/x/", "/hello/x"]),
        (r"/item/(\d+)$", ["/item/1"]),
        ("/static/(.*)", ["/static/x"]),
        (r"/(favicon\.ico)", ["/favicon.ico"]),
        ("/u/([^/]+)/edit", ["/u/x/edit"]),
        ("/(a|bc)/z", ["/a/z"]),
    ],
)
def test_sample_paths_match_their_pattern(pattern, paths):
    assert sample_paths(pattern) == paths


# ---------------------------------------------------------------- check


def test_check_passes_for_helloworld():
    proc = cli("check", cwd=HELLOWORLD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = check_lines(proc)
    assert all(status == "OK" for status, _ in lines.values()), proc.stdout
    assert "COMMON_MODULES 'main.modules.PoweredBy'" in lines
    assert "INSTALLED_APPS 'main'" in lines
    assert "cache 'default' (LocMemCache at process_cache)" in lines
    assert proc.stdout.strip().endswith("check: no problems found")


def test_check_passes_for_a_new_project_and_queries_its_database(project):
    proc = cli("check", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    db = [line for line in proc.stdout.splitlines() if line.startswith("OK   database 'default'")]
    assert db and db[0].endswith("SELECT 1") and "db.sqlite3" in db[0]


def test_check_names_a_bad_middleware_path(tmp_path):
    write_settings(
        tmp_path,
        "badmw",
        """
        DEBUG = True
        MIDDLEWARE_CLASSES = (
            "tornadopy.middleware.accesslog.AccessLogMiddleware",
            "myproject.middleware.Missing",
        )
        """,
    )
    proc = cli("check", "--settings=badmw", cwd=tmp_path)
    assert proc.returncode == 1
    lines = check_lines(proc)
    status, line = lines["MIDDLEWARE_CLASSES 'myproject.middleware.Missing'"]
    assert status == "FAIL" and "cannot be imported" in line
    assert (
        lines["MIDDLEWARE_CLASSES 'tornadopy.middleware.accesslog.AccessLogMiddleware'"][0] == "OK"
    )
    assert lines["application"][0] == "FAIL"
    assert proc.stdout.strip().endswith("check: problems found")


@pytest.mark.parametrize(
    "backend",
    [
        "tornadopy.cache.backends.rediscache.RedisCache",
        "tornadopy.cache.backends.memcached.MemcachedCache",
    ],
)
def test_check_names_a_cache_alias_on_a_closed_port(tmp_path, backend):
    write_settings(
        tmp_path,
        "deadcache",
        f"""
        DEBUG = True
        CACHES = {{
            "default": {{"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache"}},
            "sessions": {{"BACKEND": "{backend}", "LOCATION": "127.0.0.1:1"}},
        }}
        """,
    )
    started = time.monotonic()
    proc = cli("check", "--settings=deadcache", cwd=tmp_path)
    assert time.monotonic() - started < 15
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, proc.stdout
    assert failed[0].startswith("FAIL cache 'sessions' (")
    assert "127.0.0.1:1" in failed[0]
    assert any(line.startswith("OK   cache 'default'") for line in proc.stdout.splitlines())


def test_check_is_bounded_when_servers_accept_but_never_answer(tmp_path):
    """A frozen server (listening, never answering) costs at most --timeout per item."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        write_settings(
            tmp_path,
            "frozen",
            f"""
            DEBUG = True
            CACHES = {{
                "default": {{"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache"}},
                "frozen": {{
                    "BACKEND": "tornadopy.cache.backends.memcached.MemcachedCache",
                    "LOCATION": "127.0.0.1:{port}",
                    "OPTIONS": {{"SOCKET_TIMEOUT": 60, "CONNECT_TIMEOUT": 60}},
                }},
            }}
            DATABASE_CONNECTION = {{
                "default": {{"connections": [
                    {{"ROLE": "master", "URL": "mysql+aiomysql://root@127.0.0.1:{port}/test"}},
                ]}},
            }}
            """,
        )
        started = time.monotonic()
        proc = cli("check", "--settings=frozen", "--timeout=1", cwd=tmp_path)
        elapsed = time.monotonic() - started
    assert proc.returncode == 1
    lines = check_lines(proc)
    frozen = [line for status, line in lines.values() if status == "FAIL"]
    assert len(frozen) == 2, proc.stdout
    assert all("no answer within 1 s" in line for line in frozen)
    assert elapsed < 10, f"check took {elapsed:.1f} s"


def test_check_reports_secrets_duplicate_route_names_and_bad_module_entries(tmp_path):
    pkg = tmp_path / "dupapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "handlers.py").write_text(
        "from tornadopy.handler import WebHandler\nclass H(WebHandler):\n    pass\n"
    )
    (pkg / "urls.py").write_text(
        textwrap.dedent(
            """
            from tornadopy import Url, route
            u = Url("dupapp.handlers")
            urls = route(
                u(name="Same", pattern=r"/a", handler="H"),
                u(name="Same", pattern=r"/b", handler="H"),
                u(name="Broken", pattern=r"/c", handler="Missing"),
            )
            """
        )
    )
    write_settings(
        tmp_path,
        "several",
        """
        DEBUG = False
        INSTALLED_APPS = ("dupapp",)
        MIDDLEWARE_CLASSES = ("tornadopy.httpmodule.httpmodule.HttpModuleMiddleware",)
        COMMON_MODULES = ("dupapp.handlers.H",)
        ROUTE_MODULES = {"^/a": ["!dupapp.handlers.Other"], "(": []}
        """,
    )
    proc = cli("check", "--settings=several", cwd=tmp_path)
    assert proc.returncode == 1
    lines = check_lines(proc)
    assert lines["secrets"][0] == "FAIL" and "SESSION['secret_key']" in lines["secrets"][1]
    assert lines["route name 'Same'"][0] == "FAIL"
    assert "'/a'" in lines["route name 'Same'"][1] and "'/b'" in lines["route name 'Same'"][1]
    assert lines["handler 'dupapp.handlers.Missing'"][0] == "FAIL"
    assert "BaseHttpModule" in lines["COMMON_MODULES 'dupapp.handlers.H'"][1]
    assert "not in COMMON_MODULES" in lines["ROUTE_MODULES['^/a'] '!dupapp.handlers.Other'"][1]
    assert lines["ROUTE_MODULES key '('"][0] == "FAIL"


def test_check_with_a_settings_module_that_does_not_import(tmp_path):
    write_settings(tmp_path, "broken", "DEBUG = True\nraise RuntimeError('boom')\n")
    proc = cli("check", "--settings=broken", cwd=tmp_path)
    assert proc.returncode == 1
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("FAIL")]
    assert line.startswith("FAIL settings module 'broken'") and "boom" in line


def test_check_live_redis_memcached_and_mariadb_answer(
    tmp_path, redis_server, memcached_server, mysql_server
):
    write_settings(
        tmp_path,
        "live",
        """
        DEBUG = True
        CACHES = {
            "default": {"BACKEND": "tornadopy.cache.backends.localcache.LocMemCache"},
            "redis": {
                "BACKEND": "tornadopy.cache.backends.rediscache.RedisCache",
                "LOCATION": "127.0.0.1:6379",
                "KEY_PREFIX": "clitest",
            },
            "raw": {
                "BACKEND": "tornadopy.cache.backends.rediscache.RedisClient",
                "LOCATION": "127.0.0.1:6379",
            },
            "mc": {
                "BACKEND": "tornadopy.cache.backends.memcached.MemcachedCache",
                "LOCATION": "127.0.0.1:11211",
            },
        }
        DATABASE_CONNECTION = {
            "default": {"connections": [
                {"ROLE": "master", "DRIVER": "mysql+aiomysql", "UID": "root", "PASSWD": "",
                 "HOST": "127.0.0.1", "PORT": 3306, "DATABASE": "test"},
                {"ROLE": "slave", "DRIVER": "mysql+aiomysql", "UID": "root", "PASSWD": "",
                 "HOST": "127.0.0.1", "PORT": 1, "DATABASE": "test"},
            ]},
        }
        """,
    )
    proc = cli("check", "--settings=live", cwd=tmp_path)
    lines = check_lines(proc)
    assert lines["cache 'redis' (RedisCache at 127.0.0.1:6379)"][1].endswith(
        "set/get/delete round trip"
    )
    assert lines["cache 'raw' (RedisClient at 127.0.0.1:6379)"][1].endswith("PING answered")
    assert lines["cache 'mc' (MemcachedCache at 127.0.0.1:11211)"][0] == "OK"
    master = lines["database 'default' master (mysql+aiomysql://root@127.0.0.1:3306/test)"]
    assert master[0] == "OK"
    replica = lines["database 'default' replica 1 (mysql+aiomysql://root@127.0.0.1:1/test)"]
    assert replica[0] == "FAIL" and "Can't connect" in replica[1]
    assert proc.returncode == 1  # the replica on the closed port
    assert proc.stderr == ""
