"""Installed = checkout: the package built and installed into a fresh virtualenv, run from a
folder outside the checkout, starts the stack, runs the demo and answers the read commands.

The virtualenv sees the machine's site-packages for the dependencies (no index is needed), but
its own copy of the project comes first on its path; the test checks that the code it runs is
that copy, with its package data (Maven POM, log4j config, SQL, Lua, JSON Schemas).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from interaction_pipeline.orchestration import settings_env
from schemas import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600
DEMO_TIMEOUT_S = 600

PACKAGE_DATA = {
    "interaction_pipeline.stack": ["pom.xml", "log4j2.properties"],
    "interaction_pipeline.analytics": ["sql/ctr_by_position.sql", "sql/training_pairs.sql"],
    "stream_processors": ["lua/apply.lua"],
    "schemas": ["jsonschema/interaction_event.v1.schema.json"],
    "interaction_pipeline.console": [
        "templates/page.html",
        "static/console.js",
        "static/vendor/chart.umd.min.js",
    ],
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(home)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    subprocess.run(
        [
            str(home / "bin" / "pip"),
            "install",
            "-q",
            "--no-deps",
            str(REPO_ROOT),
        ],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        cwd=home,
    )
    return home


def _run(venv: Path, args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> bytes:
    done = subprocess.run(
        [str(venv / "bin" / "interactions"), *args],
        env=env | {"PATH": f"{venv / 'bin'}:/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr.decode()[-3000:])
    return done.stdout


def test_installed_package_is_the_copy_in_the_venv_with_its_data(venv: Path) -> None:
    names = ", ".join(repr(n) for n in PACKAGE_DATA)
    code = (
        "import importlib, importlib.resources as r, json\n"
        f"out = {{}}\nfor name in [{names}]:\n"
        "    module = importlib.import_module(name)\n"
        "    out[name] = [module.__file__, str(r.files(name))]\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=venv,
        capture_output=True,
        check=True,
        timeout=60,
    )
    located = orjson.loads(done.stdout)
    for name, files in PACKAGE_DATA.items():
        module_file, folder = located[name]
        assert module_file.startswith(str(venv)), f"{name} imported from {module_file}"
        for relative in files:
            assert (Path(folder) / relative).is_file(), f"{name}: {relative} not installed"


def test_installed_cli_runs_stack_demo_and_reads(
    venv: Path, unique_settings: Settings, tmp_path: Path
) -> None:
    settings = unique_settings.replace(
        sink={"group_id": f"sink-wheel-{uuid.uuid4().hex[:8]}", "batch_max_s": 0.5},
        clickhouse={"url": f"chdb://{tmp_path / 'chdb'}"},
    )
    env = settings_env(settings)
    # The services already run: `stack up` from the installed package finds them (idempotent).
    _run(venv, ["stack", "up"], env, tmp_path, 300)
    status = orjson.loads(_run(venv, ["stack", "status", "--json"], env, tmp_path, 60))
    assert status["kafka"]["answering"] and status["redis"]["answering"]
    out = tmp_path / "out"
    result = orjson.loads(
        _run(
            venv,
            ["demo", "--quick", "--seed", "5", "--no-stack", "--json", "--out", str(out)],
            env,
            tmp_path,
            DEMO_TIMEOUT_S,
        )
    )
    assert result["lag_after_catch_up"] == {"worker": 0, "sink": 0}
    assert result["export"]["pairs"] > 0
    trending = orjson.loads(_run(venv, ["trending", "--json"], env, tmp_path, 60))
    assert len(trending) > 0
    listed = orjson.loads(_run(venv, ["list", "--limit", "5", "--json"], env, tmp_path, 120))
    assert len(listed["items"]) == 5
