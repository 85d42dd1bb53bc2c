"""What the HTTP servers answer by themselves: problem documents, no banner.

``python run.py`` (werkzeug) and docs/operations.md's gunicorn command are started for
real on loopback ports, and sent requests they refuse before the app sees them
over raw sockets.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.serving import SERVER_HEADER, ProblemRequestHandler, harden_gunicorn
from tests.helpers import free_port, server_environment

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 20.0
IO_TIMEOUT_S = 5.0
# Requests a server refuses must be over its limits: werkzeug takes request
# and header lines up to 64 KiB, gunicorn a 4094-byte request line and
# 8190-byte header fields. Both take at most 100 header fields.
OVERSIZE = {"werkzeug": 70_000, "gunicorn": 20_000}


def start(kind: str, port: int) -> subprocess.Popen:
    env = server_environment(port)
    if kind == "werkzeug":
        command = [sys.executable, "run.py"]
    else:
        # docs/operations.md's production command, cut down to one small worker;
        # gunicorn 27's control socket sits at one path in $HOME.
        command = [
            sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
            "-w", "1", "-k", "gthread", "--threads", "2", "--no-control-socket",
            "-b", f"127.0.0.1:{port}", "app:create_app()",
        ]  # fmt: skip
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may refuse and close before reading everything
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # its close with our unread bytes pending resets the socket
    return parse(received)


def parse(received: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_refusal(response: tuple, status: int, code: str) -> None:
    """A server's own refusal: a problem document without a software banner.

    Not tests.helpers.assert_problem: ``response`` is the (status, headers,
    body) of a raw socket exchange, and a refusal the app never saw has no
    request id.
    """
    answered, headers, body = response
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == SERVER_HEADER
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    assert problem["request_id"] is None
    assert b"<" not in body


def wait_ready(process: subprocess.Popen, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            status, _, _ = exchange(
                port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            if status == 200:
                return
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.1)
    pytest.fail("the server did not start in time")


@pytest.fixture(scope="module")
def servers():
    """Both servers, started side by side: {"werkzeug": port, "gunicorn": port}."""
    ports = {kind: free_port() for kind in OVERSIZE}
    processes = {}
    try:
        for kind, port in ports.items():
            processes[kind] = start(kind, port)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for kind, port in ports.items():
            wait_ready(processes[kind], port, deadline)
        yield ports
    finally:
        for process in processes.values():
            # The session holds gunicorn's master and its worker.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def long_url(size: int) -> bytes:
    return b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: t\r\n\r\n"


def long_header(size: int) -> bytes:
    return b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * size + b"\r\n\r\n"


def many_headers(_size: int) -> bytes:
    fields = b"".join(b"X-Field-%d: v\r\n" % n for n in range(200))
    return b"GET /health HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n"


def garbage(_size: int) -> bytes:
    return b"\x16\x03\x01 not an HTTP request line\r\n\r\n"


@pytest.mark.parametrize("kind", sorted(OVERSIZE))
@pytest.mark.parametrize(
    ("request_for", "status", "code"),
    [
        (long_url, 414, "uri_too_long"),
        (long_header, 431, "request_header_fields_too_large"),
        (many_headers, 431, "request_header_fields_too_large"),
        (garbage, 400, "invalid_request"),
    ],
    ids=["long-url", "long-header", "200-headers", "garbage-request-line"],
)
def test_server_refusals_are_problem_documents(
    servers, kind, request_for, status, code
):
    assert_refusal(exchange(servers[kind], request_for(OVERSIZE[kind])), status, code)


@pytest.mark.parametrize("kind", sorted(OVERSIZE))
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_servers_name_no_software(servers, kind, method):
    status, headers, _ = exchange(
        servers[kind],
        f"{method} /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status == 200
    assert headers["server"] == SERVER_HEADER
    assert "text/html" not in headers.get("content-type", "")


def test_an_empty_answer_is_not_typed_html(client, customer):
    options = client.options("/deposit")
    assert options.status_code == 200
    assert "Content-Type" not in options.headers
    logout = client.post("/auth/logout", headers=customer["headers"])
    assert logout.status_code == 204
    assert "Content-Type" not in logout.headers


def test_the_dev_handler_sends_no_body_to_a_refused_head(app):
    # In process, so the handler's own lines count for coverage too.
    httpd = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=ProblemRequestHandler
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        request = many_headers(0).replace(b"GET", b"HEAD", 1)
        status, headers, body = exchange(httpd.server_port, request)
    finally:
        httpd.shutdown()
        thread.join(10)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) > 0
    assert body == b""


def test_hardened_gunicorn_writes_problem_documents(monkeypatch):
    from gunicorn import util
    from gunicorn.http import wsgi

    # Put back afterwards: the change is meant for a gunicorn worker process.
    monkeypatch.setattr(util, "write_error", util.write_error)
    monkeypatch.setattr(wsgi, "SERVER", wsgi.SERVER)
    harden_gunicorn()
    assert wsgi.SERVER == SERVER_HEADER
    ours, theirs = socket.socketpair()
    with ours, theirs:
        util.write_error(ours, 414, "URI Too Long", "Request Line is too large (1 > 0)")
        ours.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := theirs.recv(65536):
            received += chunk
    assert_refusal(parse(received), 414, "uri_too_long")
    assert b"Request Line" not in received


@pytest.mark.parametrize("kind", sorted(OVERSIZE))
@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"10\r\n{}"],
    ids=["bad-size", "missing-terminator", "ends-early"],
)
def test_an_unreadable_chunked_body_is_400(servers, kind, chunks):
    """The app reads the body through the server's de-chunker: whatever that
    fails on is the client's request, a 400 problem, never a 500."""
    head = (
        b"POST /auth/login HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection(
        ("127.0.0.1", servers[kind]), timeout=IO_TIMEOUT_S
    ) as sock:
        sock.sendall(head + chunks)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    status, headers, body = parse(received)
    assert status == 400, body
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] in ("invalid_request", "invalid_json")


@pytest.mark.parametrize("path", ["/auth//me", "//health", "/static//redoc/x.js"])
def test_a_doubled_slash_is_a_404_problem_not_an_html_redirect(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "Location" not in response.headers


def test_gunicorn_metrics_sum_every_worker(tmp_path):
    """Two workers, one metrics directory: every scrape, whichever worker
    answers it, counts every request either worker served."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = server_environment(
        METRICS_ENABLED="true", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    command = [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
        "-w", "2", "-k", "sync", "--no-control-socket",
        "-b", f"127.0.0.1:{port}", "app:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    live = b"GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    scrape = b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    try:
        wait_ready(process, port, time.monotonic() + READY_TIMEOUT_S)
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: exchange(port, live)[0], range(24)))
        assert answers == [200] * 24
        counts = []
        for _ in range(6):
            status, _, body = exchange(port, scrape)
            assert status == 200
            for family in text_string_to_metric_families(body.decode()):
                for sample in family.samples:
                    if (
                        sample.name == "bank_http_requests_total"
                        and sample.labels["route"] == "/health/live"
                    ):
                        counts.append(sample.value)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert counts == [24] * 6
    assert any(metrics_dir.iterdir())  # the workers' figures live there
