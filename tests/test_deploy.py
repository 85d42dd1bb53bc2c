"""The deployment recipe, linted by hand: no image can be built here.

Rules after hadolint's (DL3006 pinned base, DL3002 not root, DL3020 COPY not
ADD, DL3042 no pip cache, DL3025 exec-form CMD) and compose's own checks.
"""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def instructions(name: str) -> list[str]:
    return [line for line in INSTRUCTIONS if line.split()[0].upper() == name]


def test_the_base_image_is_slim_and_pinned():
    (base,) = instructions("FROM")
    image = base.split()[1]
    assert ":" in image and not image.endswith(":latest")
    assert "slim" in image


def test_the_server_runs_as_a_non_root_user():
    users = instructions("USER")
    assert users, "no USER: the server would run as root"
    assert users[-1].split()[1] not in ("root", "0")
    assert INSTRUCTIONS.index(users[-1]) > max(
        INSTRUCTIONS.index(line) for line in instructions("RUN")
    )


def test_files_are_copied_not_added_and_the_runtime_only_installed():
    assert not instructions("ADD")
    (install,) = [line for line in instructions("RUN") if "pip install" in line]
    assert "--no-cache-dir" in install and "--require-hashes" in install
    assert "requirements.lock" in install and "requirements-dev" not in install
    copies = instructions("COPY")
    # Requirements before the code, so a code change keeps the install layer.
    assert "requirements.lock" in copies[0]
    assert not any(re.search(r"\bCOPY \. ", line) for line in copies)


def test_health_is_checked_and_the_command_is_exec_form_gunicorn():
    (health,) = instructions("HEALTHCHECK")
    assert "/health" in health
    (cmd,) = instructions("CMD")
    command = json.loads(cmd.removeprefix("CMD").strip())
    assert command[0] == "gunicorn" and "app:create_app()" in command
    assert "gunicorn.conf.py" in command


def test_no_secret_is_baked_into_the_image():
    for line in instructions("ENV") + instructions("ARG"):
        assert not re.search(r"SECRET|PASSWORD|KEY=", line), line


def test_the_image_leaves_out_what_it_does_not_need():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", "tests", "node_modules", ".env"):
        assert path in ignored


def test_compose_runs_the_api_on_an_initiated_single_node_replica_set():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    mongo, api = services["mongo"], services["api"]
    assert mongo["image"] == "mongo:7"
    assert "--replSet" in mongo["command"]
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])
    assert any(volume.endswith(":/data/db") for volume in mongo["volumes"])
    named = {volume.split(":")[0] for volume in mongo["volumes"]}
    assert set(compose["volumes"]) >= named
    assert api["build"] == "."
    assert "replicaSet=rs0" in api["environment"]["MONGO_URI"]
    assert api["depends_on"]["mongo"]["condition"] == "service_healthy"
    # Secrets come from a file outside the repository, never from compose.yaml.
    assert api["env_file"] == ".env.production"
    assert not any(
        re.search(r"SECRET|PASSWORD|SEAL_KEY", key) for key in api["environment"]
    )


def test_compose_runs_the_job_runner_as_its_own_service():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    jobs, api = compose["services"]["jobs"], compose["services"]["api"]
    assert "flask jobs run-due" in " ".join(jobs["command"])
    # The same image, settings and database as the API; never inside gunicorn.
    assert jobs["build"] == api["build"]
    assert jobs["env_file"] == api["env_file"]
    assert jobs["environment"] == api["environment"]
    assert jobs["depends_on"] == api["depends_on"]
    assert "ports" not in jobs
