"""gunicorn settings of the Bank API; gunicorn reads ./gunicorn.conf.py itself.

Pass ``-c gunicorn.conf.py`` when starting gunicorn from another directory.

The app's settings are checked here, in the master, before any worker starts:
one that does not parse stops gunicorn with one ``error: VARIABLE: ...`` line
and exit status 1, with nothing else printed. app/config.py (and its parsers,
app/settings_parsing.py) is loaded on its own, not as ``app.config``, so the
master still never imports the app and each worker (a HUP's new ones included)
loads it fresh. Values given with gunicorn's own ``-e``/``raw_env`` are set
after this check; the worker checks those (see ``create_app``).
"""

import importlib.util
import os
import pathlib
import sys
import tempfile


def _load(name: str, path: pathlib.Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_settings() -> None:
    folder = pathlib.Path(__file__).resolve().parent / "app"
    # app/config.py imports its parsers as app.settings_parsing; importing that
    # would import the package app first. The parsers are lent under that name
    # for the check alone, then taken back so that a worker imports its own.
    parsers = "app.settings_parsing"
    lent = parsers not in sys.modules
    if lent:
        sys.modules[parsers] = _load(parsers, folder / "settings_parsing.py")
    try:
        settings = _load("_bank_settings_check", folder / "config.py")
    finally:
        if lent:
            del sys.modules[parsers]
    if settings.SETTINGS_ERROR is not None:
        print(f"error: {settings.SETTINGS_ERROR}", file=sys.stderr, flush=True)
        sys.exit(1)


_check_settings()


def _metrics_directory() -> None:
    """One directory for every worker's metrics (prometheus-client's multiprocess
    mode), so /metrics sums all workers whichever one answers. Set here, in the
    master, before any worker imports the client; a directory given in the
    environment is used as it is (it must be empty at start)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="bank-metrics-"
        )


_metrics_directory()


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live-only figures (none today: counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def post_worker_init(worker: object) -> None:
    """Harden each worker once it has loaded the app, before it serves."""
    # Imported here, in the worker: the master has no need of the app.
    from app.serving import harden_gunicorn

    harden_gunicorn()
