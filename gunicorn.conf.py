"""gunicorn settings of the Bank API; gunicorn reads ./gunicorn.conf.py itself.

Pass ``-c gunicorn.conf.py`` when starting gunicorn from another directory.
"""


def post_worker_init(worker: object) -> None:
    """Harden each worker once it has loaded the app, before it serves."""
    # Imported here, in the worker: the master has no need of the app.
    from app.serving import harden_gunicorn

    harden_gunicorn()
