"""The README's five-minute tour, pasted into bash against a live ``run.py``.

The tour is the ``sh`` blocks of the README's "A five-minute tour" section, one
shell session; each block is followed by a ``text`` block with the answer it
gives. docs/api.md's "More of the first session" goes on in the same shell.
This runs both as written, in one bash process, against ``python run.py``
(what ``make run`` starts) on a free port, started with the environment the
README tells the reader to start it with, and compares every step's output
with the answer shown. The password-reset code the guide asks the reader to
type from the server's terminal is typed from the server's output.

How a shown answer is read:

- a line that is only ``…`` stands for any number of lines (headers left out);
- ``…`` inside a line stands for any text on that line;
- what differs on every run stands for any value of its shape: timestamps
  (``2026-12-02T20:23:29.579Z``), request ids (32 hex digits), object ids (24),
  account numbers (10 digits). One shown value must stand for one actual value
  throughout the tour (Bob's account number in the transfer is the one he
  registered with), and two shown values for two actual ones;
- everything else must be equal, character for character.

Needs bash, curl and jq; skipped without them, except under CI, where that fails.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import free_port

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
GUIDE = REPO / "docs" / "api.md"
HEADING = "## A five-minute tour"
GUIDE_HEADING = "## More of the first session"
# What the console email sender prints in the server's terminal.
RESET_CODE = re.compile(r"Your password reset code is (\d{8})\.")
START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 120.0
MARKER = "@@tour-step-{}@@"

FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# What differs on every run, longest shapes first: each shown value of one of
# these shapes stands for any actual value of the same shape.
VARYING = {
    "time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "request id": r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])",
    "object id": r"(?<![0-9a-f])[0-9a-f]{24}(?![0-9a-f])",
    "account number": r"(?<!\d)\d{10}(?!\d)",
}
# Two different times may fall in one millisecond; two ids or numbers may not.
DISTINCT = {"request id", "object id", "account number"}
TOKEN = re.compile(
    "|".join(f"(?P<v{n}>{shape})" for n, shape in enumerate(VARYING.values()))
    + "|(?P<gap>…)"
)


@dataclass
class Step:
    command: str
    answer: str | None


def section(text: str, heading: str = HEADING) -> str:
    """From ``heading`` to the next second-level heading."""
    assert text.count(f"\n{heading}\n") == 1, f"needs one {heading!r} section"
    start = text.index(f"\n{heading}\n") + 1
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def steps_of(section: str) -> list[Step]:
    """Each ``sh`` block, with the ``text`` block right after it (its answer)."""
    blocks = list(FENCE.finditer(section))
    steps = []
    for index, block in enumerate(blocks):
        if block.group(1) != "sh":
            continue
        answer = None
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if (
            following is not None
            and following.group(1) == "text"
            and not section[block.end() : following.start()].strip()
        ):
            answer = following.group(2)
        steps.append(Step(block.group(2), answer))
    return steps


def server_environment(text: str) -> dict[str, str]:
    """The ``VAR=value ... make run`` the README starts the tour's server with."""
    found = re.findall(r"^((?:[A-Z_]+=\S+ )+)make run$", text, re.MULTILINE)
    assert len(found) == 1, "README.md shows one `VAR=value ... make run` line"
    return dict(pair.split("=", 1) for pair in found[0].split())


def normalized(output: str) -> str:
    """Lines without trailing spaces or carriage returns, no blank lines at the end."""
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def compile_answer(shown: str) -> tuple[re.Pattern, list[tuple[str, str]]]:
    """A pattern for the output ``shown`` stands for, and its varying values.

    The list holds, in group order, (shape, shown value) of each varying value;
    group ``i + 1`` of a match is the actual value of entry ``i``.
    """
    parts, varying = [], []
    for line in normalized(shown).split("\n"):
        if line == "…":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        position = 0
        for token in TOKEN.finditer(line):
            parts.append(re.escape(line[position : token.start()]))
            if token.lastgroup == "gap":
                parts.append(r"[^\n]*?")
            else:
                shape = list(VARYING)[int(token.lastgroup[1:])]
                parts.append(f"({VARYING[shape]})")
                varying.append((shape, token.group()))
            position = token.end()
        parts.append(re.escape(line[position:]) + r"\n")
    return re.compile("".join(parts)), varying


class Bindings:
    """Which actual value each shown varying value stood for, over the tour."""

    def __init__(self) -> None:
        self.actual: dict[tuple[str, str], str] = {}
        self.shown: dict[tuple[str, str], str] = {}

    def bind(self, shape: str, shown: str, actual: str) -> str | None:
        """Record one pairing; return why it contradicts an earlier one, if it does."""
        before = self.actual.setdefault((shape, shown), actual)
        if before != actual:
            return f"the {shape} shown as {shown} was {before}, now {actual}"
        if shape in DISTINCT:
            other = self.shown.setdefault((shape, actual), shown)
            if other != shown:
                return f"the {shape} {actual} is shown both as {other} and as {shown}"
        return None


def mismatch(shown: str, actual: str, bindings: Bindings) -> str | None:
    """Why ``actual`` is not the output ``shown`` stands for; None when it is."""
    pattern, varying = compile_answer(shown)
    match = pattern.fullmatch(normalized(actual) + "\n")
    if match is None:
        return "the output differs from the answer shown"
    for index, (shape, value) in enumerate(varying):
        problem = bindings.bind(shape, value, match.group(index + 1))
        if problem:
            return problem
    return None


def expected(step: Step) -> str:
    """What a step must print: its answer, or nothing when it shows none."""
    return step.answer if step.answer is not None else ""


def session_script(steps: list[Step]) -> str:
    """The blocks as one pasted session, a marker after each block's output."""
    parts = []
    for number, step in enumerate(steps):
        parts.append(step.command)
        parts.append(f"printf '\\n{MARKER.format(number)}\\n'\n")
    return "".join(parts)


def outputs_of(stdout: str, count: int) -> list[str]:
    outputs, rest = [], stdout
    for number in range(count):
        marker = f"\n{MARKER.format(number)}\n"
        if marker not in rest:
            break
        output, rest = rest.split(marker, 1)
        outputs.append(output)
    return outputs


@dataclass
class Session:
    stdout: str
    stderr: str


def run_session(
    steps: list[Step], base: str, folder: Path, server_output: Path
) -> Session:
    """Paste ``steps`` into one bash; type the reset code once the server shows it.

    The commands come from a file, so bash's standard input is the keyboard:
    a ``read`` in a step waits for the code, which is typed as soon as the
    server's output holds one (never, if it does not: then end of input).
    """
    script = folder / "session.sh"
    script.write_text(session_script(steps), encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "BASE": base,
    }
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        bash = subprocess.Popen(  # noqa: S603
            ["bash", "--noprofile", "--norc", str(script)],  # noqa: S607 - the reader's shell
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + RUN_TIMEOUT_S
        try:
            code = None
            while code is None and bash.poll() is None and time.monotonic() < deadline:
                found = RESET_CODE.search(server_output.read_text(errors="replace"))
                code = found.group(1) if found else None
                if code is None:
                    time.sleep(0.2)
            if code is not None and bash.poll() is None:
                bash.stdin.write(code + "\n")
            bash.stdin.close()
            bash.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if bash.poll() is None:
                bash.kill()
                bash.wait()
    return Session(out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"))


# -- the tour's structure ------------------------------------------------------


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def steps(readme) -> list[Step]:
    return steps_of(section(readme))


@pytest.fixture(scope="module")
def guide_steps() -> list[Step]:
    return steps_of(section(GUIDE.read_text(encoding="utf-8"), GUIDE_HEADING))


def test_the_tour_is_steps_each_with_the_answer_it_gives(steps, guide_steps):
    assert len(steps) >= 8
    for step in steps:
        assert step.answer is not None, f"a step shows no answer:\n{step.command}"
        assert step.answer.strip(), f"a step's answer is empty:\n{step.command}"
    # The guide's continuation: a step without an answer prints nothing (the
    # prompt for the code, which bash shows only to a person).
    assert len(guide_steps) >= 5
    assert sum(step.answer is None for step in guide_steps) == 1
    assert any("read -r" in step.command for step in guide_steps)


def test_the_tour_runs_against_make_runs_default_address(readme, steps, guide_steps):
    # .env.example holds the defaults (tests/test_settings.py checks that).
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    host = re.search(r"^HOST=(.*)$", example, re.MULTILINE).group(1)
    port = re.search(r"^PORT=(.*)$", example, re.MULTILINE).group(1)
    default = f"http://{host}:{port}"
    assert default == "http://127.0.0.1:5000"
    assert f"BASE=${{BASE:-{default}}}" in steps[0].command
    # ... and the README says so before the tour starts.
    assert default in readme.split(HEADING)[0]
    # Nothing but BASE names the server: no address written into a command.
    for step in steps[1:] + guide_steps:
        assert "127.0.0.1" not in step.command and "localhost" not in step.command


def test_the_tour_keeps_numbers_and_tokens_in_variables(steps, guide_steps):
    for step in steps + guide_steps:
        assert not re.search(r"\d{10}", step.command), step.command
        assert "eyJ" not in step.command, step.command  # no pasted token


# -- reading an answer ---------------------------------------------------------


def test_an_answer_matches_only_what_it_stands_for():
    shown = (
        '{"account_number":"3147438760","balance":"75.50",'
        '"id":"6b107e428dffb860b8c1b7b1"}'
    )
    same_shape = (
        '{"account_number":"0000000001","balance":"75.50",' + '"id":"' + "a" * 24
    )
    assert mismatch(shown, same_shape + '"}', Bindings()) is None
    assert mismatch(shown, same_shape.replace("75.50", "75.51") + '"}', Bindings())
    assert mismatch(shown, same_shape + '","extra":1}', Bindings())
    # `…` inside a line and on a line of its own.
    assert mismatch('{"a":1,…}', '{"a":1,"b":2,"c":3}', Bindings()) is None
    assert mismatch('{"a":1,…}', '{"a":2,"b":2}', Bindings())
    headers = "HTTP/1.1 201 CREATED\n…\nIdempotency-Replayed: true\n…\n\n{}"
    actual = "HTTP/1.1 201 CREATED\r\nDate: x\r\nIdempotency-Replayed: true\r\n\r\n{}"
    assert mismatch(headers, actual, Bindings()) is None
    assert mismatch(headers, actual.replace("true", "false"), Bindings())
    assert mismatch("a\nb", "a\nb\nc", Bindings())


def test_one_shown_value_stands_for_one_actual_value():
    bindings = Bindings()
    assert mismatch("to 3147438760", "to 1111111111", bindings) is None
    assert mismatch("from 3147438760", "from 1111111111", bindings) is None
    assert "now 2222222222" in mismatch("to 3147438760", "to 2222222222", bindings)
    assert "shown both" in mismatch("to 9999999999", "to 1111111111", bindings)
    # Times may repeat: two movements in one millisecond.
    times = Bindings()
    for shown in ("2026-12-02T20:23:30.511Z", "2026-12-02T20:23:30.559Z"):
        assert mismatch(shown, "2027-01-01T00:00:00.000Z", times) is None


def test_the_session_marks_each_steps_output_and_types_the_code(tmp_path):
    server_output = tmp_path / "server.txt"
    server_output.write_text("Your password reset code is 12345678. It works once\n")
    steps = [
        Step("echo one\n", "one"),
        Step("read -r CODE\n", None),
        Step('printf "two $CODE"\n', "two 12345678"),
    ]
    done = run_session(steps, "http://unused", tmp_path, server_output)
    outputs = outputs_of(done.stdout, 3)
    assert [normalized(out) for out in outputs] == ["one", "", "two 12345678"]
    assert done.stderr == ""
    # No code in the server's output: the read meets the end of input.
    server_output.write_text("")
    done = run_session(steps, "http://unused", tmp_path, server_output)
    assert normalized(outputs_of(done.stdout, 3)[2]) == "two"


# -- the tour, run ---------------------------------------------------------------


def missing_tools() -> list[str]:
    return [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]


def wait_until_healthy(process: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "run.py exited before it served"
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"run.py did not answer /health within {START_TIMEOUT_S} s")


@pytest.fixture
def tour_server(readme, tmp_path):
    """``python run.py`` as the README starts it, on a free port.

    Yields its address and the file its terminal output goes to. Its job loop
    runs every second rather than 30, so the reset code's email is sent soon.
    """
    missing = missing_tools()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the README's tour: no {', '.join(missing)}")
        pytest.skip(f"the README's tour needs {', '.join(missing)}")
    port = free_port()
    env = helpers.server_environment(
        port,
        **server_environment(readme),
        DEMO_DATA="false",
        JOBS_INTERVAL_SECONDS="1",
        EMAIL_BACKEND="console",
    )
    output = tmp_path / "server.txt"
    with output.open("w") as terminal:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "run.py"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base)
        yield base, output
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_tour_runs_as_written_and_answers_as_shown(
    steps, guide_steps, tour_server, tmp_path
):
    base, server_output = tour_server
    session = steps + guide_steps
    done = run_session(session, base, tmp_path, server_output)
    outputs = outputs_of(done.stdout, len(session))
    bindings = Bindings()
    for number, step in enumerate(session):
        where = (
            f"step {number} of the README's tour"
            if number < len(steps)
            else f"step {number - len(steps)} of docs/api.md's first session"
        )
        assert number < len(outputs), (
            f"{where} did not finish:\n{step.command}\nstderr:\n{done.stderr}"
        )
        problem = mismatch(expected(step), outputs[number], bindings)
        assert problem is None, (
            f"{where}: {problem}\n"
            f"--- command\n{step.command}--- shown\n{normalized(expected(step))}\n"
            f"--- actual\n{normalized(outputs[number])}\n--- stderr\n{done.stderr}"
        )
    assert done.stderr == "", done.stderr
