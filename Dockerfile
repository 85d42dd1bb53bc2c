# The Bank API under gunicorn, as a non-root user on a slim Python image.
# Not built on the development machines (no image registry there); kept
# small and conventional, and checked by tests/test_deploy.py.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production

WORKDIR /srv/bank

# The runtime only: the dev tools (requirements-dev.txt) stay out of the image.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY gunicorn.conf.py run.py .flaskenv LICENSE ./
COPY app ./app

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin bank
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "-w", "4", "-k", "gthread", "--threads", "8", "-b", "0.0.0.0:8000", "app:create_app()"]
