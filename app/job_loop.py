"""The job loop inside the development server (``python run.py`` / ``make run``).

Runs ``flask jobs run-due``'s work every JOBS_INTERVAL_SECONDS on a daemon
thread. Only ``run.py`` starts it: ``create_app`` never does, so a gunicorn
server (one app per worker) never runs the jobs once per worker by accident;
production runs ``flask jobs run-due`` from cron or a Kubernetes CronJob. A
second runner is harmless anyway (see ``app.core.jobs``), only wasteful.
"""

import logging
import threading

from flask import Flask

from app.controllers import jobs as jobs_controller

log = logging.getLogger("app.jobs")


def start_job_loop(app: Flask) -> threading.Event | None:
    """Start the loop if JOBS_INTERVAL_SECONDS is above 0; return its stop event."""
    interval = app.config["JOBS_INTERVAL_SECONDS"]
    if interval <= 0:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                with app.app_context():
                    jobs_controller.run_due()
            except Exception:  # noqa: BLE001 - the loop outlives one bad pass
                log.exception("job loop pass failed")

    threading.Thread(target=loop, name="job-loop", daemon=True).start()
    log.info("job loop: every %s s (JOBS_INTERVAL_SECONDS)", interval)
    return stop
