"""The documentation builds without a warning, and every example in it runs.

* ``test_docs_build`` runs ``sphinx-build -W`` (warnings are errors) into a
  temporary directory, so ``make test`` fails on a broken reference, a bad
  docstring or an include that went missing, exactly as ``make docs`` would.
* ``test_page_examples`` runs each page's Python blocks with Sybil, in page
  order, in one namespace per page (so later blocks build on earlier ones),
  inside a scratch directory (so ``sqlite://queue.db`` lands there). The
  example app in ``docs/examples`` is importable, as a worker needs. A page
  that mentions ``REDIS_URL``, ``BEANSTALK_URL`` or ``POSTGRES_URL`` gets a throw-away server
  started here (skipped locally when the binary is missing, failed in CI).
* ``test_every_python_block_is_collected`` guards the guard: a block Sybil
  does not recognise would silently never run.
* ``test_typing_guide_claims`` runs mypy over the typing guide's blocks: a
  line marked ``# E: <code>`` must get exactly that error, others none.
* ``test_the_figures_the_prose_quotes_come_from_the_committed_results``: the
  benchmark figures in the prose are substitutions made from
  ``benchmarks/results/results.json``, and that file has all of them.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
import time
import unittest
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.rest import DocTestParser, PythonCodeBlockParser, SkipParser

from alligator import Gator
from tests.servers import ServerProcess, free_port, redis_ready, require_binary

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted(p.name for p in DOCS.glob("*.rst"))

SYBIL = Sybil(
    parsers=[PythonCodeBlockParser(), DocTestParser(), SkipParser()],
    path="../docs",
    patterns=["*.rst"],
)

PYTHON_BLOCK = re.compile(r"^\s*\.\. (?:invisible-)?(?:code-block|code|sourcecode):: python\s*$")
MYPY_LINE = re.compile(r"^(?P<path>[^:\n]+\.py):(?P<line>\d+): error: .*\[(?P<code>[a-z0-9-]+)\]$")
SPHINX = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
MYPY = ["--config-file", str(ROOT / "pyproject.toml"), "--strict", "--show-error-codes"]
MYPY += ["--no-error-summary", "--no-pretty"]
MARKER = re.compile(r"#\s*E:\s*(?P<codes>[a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)\s*$")


# -- servers for the pages that need them ---------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("redis-server")
    workdir = tmp_path_factory.mktemp("docs-redis")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    server = ServerProcess(
        [*argv, "--save", "", "--appendonly", "no"], port, workdir, "redis", ready=redis_ready
    )
    server.start()
    yield f"redis://127.0.0.1:{port}/0"
    server.stop()


@pytest.fixture(scope="module")
def beanstalk_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("beanstalkd")
    workdir = tmp_path_factory.mktemp("docs-beanstalkd")
    port = free_port()
    server = ServerProcess(
        [binary, "-l", "127.0.0.1", "-p", str(port)], port, workdir, "beanstalkd"
    )
    server.start()
    yield f"beanstalk://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def example_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``myapp`` importable, a scratch working directory, fresh example state."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)
    # Imported once and reset, not re-imported: workers cache imported callables.
    tasks = importlib.import_module("myapp.tasks")
    feeds = importlib.import_module("myapp.feeds")
    for state in (tasks.OUTBOX, tasks.CALLS, feeds.STATUS, feeds.COUNTERS):
        state.clear()
    # Examples configure logging; leave the root logger as it was.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    root.handlers[:] = handlers
    root.setLevel(level)


# -- the tests --------------------------------------------------------------------


def test_docs_build(tmp_path: Path) -> None:
    # Given the docs sources
    # When Sphinx builds them with warnings as errors
    started = time.perf_counter()
    proc = subprocess.run(
        [*SPHINX, "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    elapsed = time.perf_counter() - started
    # Then the build succeeds with nothing to warn about
    assert proc.returncode == 0, f"sphinx-build failed in {elapsed:.1f}s:\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (tmp_path / "html" / "index.html").is_file()


def test_the_figures_the_prose_quotes_come_from_the_committed_results() -> None:
    # Given the benchmark figures docs/conf.py substitutes into the pages
    sys.path.insert(0, str(DOCS / "_scripts"))
    try:
        bench_figures = importlib.import_module("bench_figures")
    finally:
        sys.path.remove(str(DOCS / "_scripts"))
    found: dict[str, str] = bench_figures.figures(ROOT)
    # Then the committed results.json has every one of them (one coherent run)
    missing = [name for name, text in found.items() if text == bench_figures.MISSING]
    assert missing == [], "figures the prose quotes that results.json lacks"
    # And the pages use exactly those, so none is left defined but unquoted
    used = set()
    for page in PAGES:
        used |= set(re.findall(r"\|(bench-[a-z0-9-]+)\|", (DOCS / page).read_text()))
    assert used == set(found)


@pytest.mark.parametrize("page", PAGES)
def test_page_examples(page: str, request: pytest.FixtureRequest, example_app: Path) -> None:
    # Given a page, its example app and any server it names
    text = (DOCS / page).read_text()
    document = SYBIL.parse(DOCS / page)
    if "REDIS_URL" in text:
        document.namespace["REDIS_URL"] = request.getfixturevalue("redis_url")
    if "BEANSTALK_URL" in text:
        document.namespace["BEANSTALK_URL"] = request.getfixturevalue("beanstalk_url")
    if "POSTGRES_URL" in text:
        cluster = request.getfixturevalue("shared_postgres")
        document.namespace["POSTGRES_URL"] = cluster.dsn
    # When every example runs in page order
    ran, skipped = 0, 0
    for example in document:
        try:
            example.evaluate()
        except unittest.SkipTest:
            skipped += 1
        else:
            ran += 1
    # Then none failed (evaluate raises on failure), and the skips are deliberate
    for value in document.namespace.values():
        if isinstance(value, Gator):
            value.close()  # a safety net: pages close their network Gators themselves
    print(f"{page}: {ran} examples run, {skipped} skipped")


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_is_collected(page: str) -> None:
    # Given the Python blocks written in the page source
    declared = sum(1 for line in (DOCS / page).read_text().splitlines() if PYTHON_BLOCK.match(line))
    # When Sybil parses the page
    collected = sum(
        1 for ex in SYBIL.parse(DOCS / page) if isinstance(ex.region.evaluator, PythonEvaluator)
    )
    # Then each of them is an example it runs
    assert collected == declared


def test_typing_guide_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the typing guide's Python blocks as one module
    api = pytest.importorskip("mypy.api")
    source = tmp_path / "typing_guide.py"
    monkeypatch.setenv("MYPYPATH", os.pathsep.join([str(ROOT / "stubs"), str(EXAMPLES)]))
    source.write_text(_join_blocks(DOCS / "typing.rst"))
    # When mypy --strict checks it
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        stdout, stderr, status = api.run(
            [*MYPY, "--cache-dir", str(ROOT / ".mypy_cache"), str(source)]
        )
    finally:
        os.chdir(previous)
    # Then it reports exactly the marked errors
    assert status in (0, 1), stderr + stdout
    found: Counter[tuple[int, str]] = Counter()
    for line in stdout.splitlines():
        match = MYPY_LINE.match(line)
        if match and Path(match["path"]).name == source.name:
            found[(int(match["line"]), match["code"])] += 1
    expected: Counter[tuple[int, str]] = Counter()
    for number, line in enumerate(source.read_text().splitlines(), start=1):
        marker = MARKER.search(line)
        if marker:
            for code in marker["codes"].split(","):
                expected[(number, code.strip())] += 1
    assert found == expected, stdout


def _join_blocks(page: Path) -> str:
    """The page's Python blocks, each at its own line number, as one module."""
    lines = page.read_text().splitlines()
    out = [""] * len(lines)
    inside, indent = False, 0
    for number, line in enumerate(lines):
        if PYTHON_BLOCK.match(line):
            inside, indent = True, -1
            continue
        if not inside:
            continue
        if not line.strip():
            continue
        current = len(line) - len(line.lstrip())
        if indent < 0:
            if line.lstrip().startswith(":"):
                continue  # a directive option
            indent = current
        if current < indent:
            inside = False
            continue
        out[number] = line[indent:]
    return "\n".join(out) + "\n"
