"""The deployment files agree with the code: commands exist, services are health-checked,
every setting has an .env.example entry, and the embedded URLs are what clients accept.
No database, no servers started."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from govhub import embedded

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
APP_SERVICES = [name for name, svc in SERVICES.items() if "build" in svc]


def _pinned() -> set[str]:
    names = set()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==", line.strip())
        if match:
            names.add(match.group(1).lower())
    return names


def _env_example() -> set[str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")}


def _commands(command: str | list[str]) -> list[list[str]]:
    """Split a compose command (list, string or `sh -c` script) into argv lists."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] in (["sh", "-c"], ["bash", "-c"]):
        parts = re.split(r"&&|;|\|\|", argv[2])
        argvs = [shlex.split(part) for part in parts if part.strip()]
        return [a[1:] if a[:1] == ["exec"] else a for a in argvs]
    return [argv]


def _management_command_exists(name: str) -> bool:
    import django

    roots = [Path(django.__file__).parent, REPO / "apps"]
    return any(any(root.glob(f"**/management/commands/{name}.py")) for root in roots)


def _check_argv(argv: list[str]) -> None:
    if argv[0] in ("python", "python3"):
        argv = argv[1:]
        if argv[:1] == ["-m"]:
            argv = argv[1:]
    program = argv[0]
    if program == "manage.py":
        assert (REPO / "manage.py").is_file()
        assert _management_command_exists(argv[1]), f"no management command {argv[1]!r}"
    elif program == "gunicorn":
        assert "gunicorn" in _pinned()
        module = argv[1].split(":")[0]
        assert (REPO / (module.replace(".", "/") + ".py")).is_file(), f"{module} missing"
    elif program == "celery":
        assert "celery" in _pinned()
        app = argv[argv.index("-A") + 1]
        assert (REPO / app / "celery.py").is_file(), f"{app}/celery.py missing"
    elif program.endswith(".py"):
        assert (REPO / program).is_file(), f"{program} missing"
    else:
        raise AssertionError(f"unrecognised command {argv!r}")


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_service_commands_exist(service: str) -> None:
    for argv in _commands(SERVICES[service]["command"]):
        _check_argv(argv)


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_service_has_a_healthcheck(service: str) -> None:
    check = SERVICES[service].get("healthcheck")
    assert check and check.get("test") and not check.get("disable"), f"{service} has no healthcheck"
    test = check["test"]
    if service in APP_SERVICES and test[0] == "CMD":
        _check_argv(test[1:])


def test_app_services_run_in_production() -> None:
    for service in APP_SERVICES:
        assert SERVICES[service]["environment"]["GOVHUB_ENV"] == "production"
        assert SERVICES[service]["env_file"] == ".env"


def _settings_env_vars() -> set[str]:
    """Names the settings read: env("X"), env.bool("X"), Env(X=...), "X" in env.ENVIRON, os.environ."""
    names: set[str] = set()
    for path in (REPO / "govhub" / "settings").glob("*.py"):
        if path.name == "test.py":  # the test profile reads only what pytest-xdist sets
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                is_env = (isinstance(func, ast.Name) and func.id in ("env", "getenv")) or (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name | ast.Attribute)
                    and (getattr(func.value, "id", None) == "env" or getattr(func.value, "attr", None) in ("ENVIRON", "environ"))
                )
                if is_env and node.args and isinstance(node.args[0], ast.Constant):
                    names.add(node.args[0].value)
                if isinstance(func, ast.Attribute) and func.attr == "Env":
                    names.update(kw.arg for kw in node.keywords if kw.arg)
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant):
                if any(isinstance(c, ast.Attribute) and c.attr in ("ENVIRON", "environ") for c in node.comparators):
                    names.add(node.left.value)
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr in ("ENVIRON", "environ")
            ):
                names.add(node.slice.value)
    return {n for n in names if isinstance(n, str) and n.isupper()} - {"DJANGO_SETTINGS_MODULE"}


def test_every_setting_variable_is_in_env_example() -> None:
    names = _settings_env_vars()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "GOVHUB_ENV"} <= names  # the parser works
    assert names - _env_example() == set()


def test_compose_interpolations_are_in_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    names = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert names - _env_example() == set()


def test_postgres_url_is_a_unix_socket_url() -> None:
    import environ

    url = embedded.postgres_url()
    config = environ.Env.db_url_config(url)
    host = config["HOST"] or config.get("OPTIONS", {}).get("host", "")
    assert url.startswith("postgres://") and config["NAME"] == "govhub" and config["USER"] == "postgres"
    assert host.startswith("/") and config["PORT"] == ""
    assert len((Path(host) / ".s.PGSQL.5432").as_posix().encode()) < 107


def test_redis_urls_parse_for_django_and_celery() -> None:
    import redis
    from kombu import Connection

    pool = redis.ConnectionPool.from_url(embedded.redis_url())
    assert pool.connection_class is redis.UnixDomainSocketConnection
    assert pool.connection_kwargs["path"] == str(embedded.redis_socket())
    broker = Connection(embedded.celery_broker_url(embedded.redis_url()))
    assert broker.transport_cls == "redis" and broker.hostname.startswith("socket://")
    assert embedded.celery_broker_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_long_checkout_paths_use_a_short_socket_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "VAR", Path("/" + "x" * 120) / "var")
    assert str(embedded.socket_dir()).startswith("/tmp/govhub-")


def test_url_functions_start_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings call these on import, so they must not spawn processes or touch the disk."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("side effect in a pure URL function")

    monkeypatch.setattr(embedded, "VAR", tmp_path / "var")
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    for name in ("mkdir", "touch", "write_text", "unlink"):
        monkeypatch.setattr(Path, name, forbidden)
    embedded.postgres_url()
    embedded.redis_url()
    embedded.celery_broker_url(embedded.redis_url())
    assert not (tmp_path / "var").exists()
