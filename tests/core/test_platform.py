import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "GOVHUB_ENV": "production",
    "SECRET_KEY": "k" * 20 + "Zq8#pL2@vN5!xR7$wT1^yU4&" + "m" * 10,
    "ALLOWED_HOSTS": "govhub.example.org",
}


def _manage(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_under_production_settings():
    r = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no issues" in r.stdout


@pytest.mark.parametrize("override, message", [
    ({"DEBUG": "true"}, "DEBUG"),
    ({"SECRET_KEY": "insecure-dev-key-change-me"}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
])
def test_production_refuses_insecure_settings(override, message):
    r = _manage("check", env={**PROD_ENV, **override})
    assert r.returncode != 0
    assert message in r.stderr


def test_unknown_env_is_refused():
    r = _manage("check", env={"GOVHUB_ENV": "staging"})
    assert r.returncode != 0 and "GOVHUB_ENV" in r.stderr


def test_openapi_schema_validates(tmp_path):
    out = tmp_path / "schema.json"
    r = _manage("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    schema = json.loads(out.read_text())
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/datasets/", "/api/v1/models/", "/api/v1/consents/", "/api/v1/clusters/",
                 "/api/v1/service-accounts/{id}/tokens/"):
        assert path in schema["paths"], path


def test_migrations_are_in_step_with_models():
    r = _manage("makemigrations", "--check", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
