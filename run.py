"""Development server: `python run.py` (or `make run`)."""

import logging
import secrets
import sys

from app import StartupError, create_app, demo
from app.config import Config, check_settings
from app.db import is_memory_uri
from app.job_loop import start_job_loop
from app.serving import ProblemRequestHandler


def main() -> int:
    """Start the API on HOST:PORT, with a demo banker on a fresh in-memory store."""
    try:
        check_settings()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config_class = Config
    demo_password = None
    if is_memory_uri(Config.MONGO_URI) and not Config.BOOTSTRAP_BANKER_USERNAME:
        demo_password = secrets.token_urlsafe(12)

        class RunConfig(Config):
            BOOTSTRAP_BANKER_USERNAME = "banker"
            BOOTSTRAP_BANKER_PASSWORD = demo_password

        config_class = RunConfig
    try:
        app = create_app(config_class)
    except StartupError as exc:
        # A bad setting or an unreachable database: one line, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if app.config["DEMO_DATA"]:
        try:
            for line in demo.seed(app):
                print(line)
        except demo.SeedRefused:
            print("Demo data: the store holds customers already; none added.")
    host, port = app.config["HOST"], app.config["PORT"]
    if app.config["IN_MEMORY_DB"]:
        print("WARNING: in-memory database; nothing is persisted across restarts.")
    if demo_password:
        # Shown once, on the console of a throwaway in-memory store only.
        print(f"Demo banker: username 'banker', password '{demo_password}'")
    print(f"Bank API listening on http://{host}:{port}/  (health: /health)")
    print(f"Web front end: http://{host}:{port}/app/")
    if not app.config["DEMO_DATA"]:
        print("Demo data (customers with six months of history): `make demo`.")
    if start_job_loop(app) is not None:
        print(
            f"Jobs run every {app.config['JOBS_INTERVAL_SECONDS']} s inside this "
            "server (JOBS_INTERVAL_SECONDS; 0 turns it off)."
        )
    # The app writes its own access line per request; the dev server's would be
    # a second one.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The handler answers the requests werkzeug refuses before the app sees
    # them with problem documents, and names no server software.
    app.run(host=host, port=port, threaded=True, request_handler=ProblemRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
