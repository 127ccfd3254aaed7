"""The dashboard in a real browser: Playwright driving Debian's Chromium, headless.

Nothing is downloaded at run time: Playwright's driver ships in its wheel
and the browser is ``/usr/bin/chromium`` (``make servers`` installs it).
The page is checked against the backend: the counts it shows, a buried task
requeued by a click, the refused action without the token, an argument
that holds ``<script>`` shown as text and never run. ``ALLIGATOR_SCREENSHOT=path``
saves the queue page there (how ``docs/_static/dashboard.png`` is made).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from alligator import Gator, Worker
from tests import tasks
from tests.servers import require_binary
from tests.web_server import TOKEN, serving

SCRIPT = "<script>window.pwned = 1</script>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_binary("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    made = context.new_page()
    made.set_default_timeout(20_000)
    yield made
    context.close()


def _count(page: Page, queue: str, state: str) -> str:
    return page.locator(f'[data-count="{queue}|{state}"]').first.inner_text()


def test_a_person_sees_the_counts_requeues_by_clicking_and_needs_the_token(
    page: Page, sqlite_dsn: str, tmp_path: Path
) -> None:
    # Given a queue "emails" with three buried tasks (one argument holds <script>) and two ready
    with Gator(sqlite_dsn, queue_name="emails") as gator:
        for message in (SCRIPT, "smtp timeout", "mailbox full"):
            gator.task(tasks.fail, message)
        Worker(gator, recycle_after=3, poll_timeout=0.1, nap_time=0.01).run_forever()
        for i in range(2):
            gator.task(tasks.add, i, i)
        with serving(sqlite_dsn) as url:
            # When a person opens the dashboard
            page.goto(url + "/")
            # Then it shows the backend's counts
            stats = gator.broker.stats("emails")
            assert (stats.ready, stats.buried) == (2, 3)
            assert _count(page, "emails", "ready") == "2"
            assert _count(page, "emails", "buried") == "3"
            # And they refresh live: a task enqueued now shows up without a reload
            gator.task(tasks.add, 9, 9)
            expect(page.locator('[data-count="emails|ready"]').first).to_have_text("3")
            # When they open the queue and a buried task
            page.click("text=emails")
            expect(page.locator("#buried tbody tr")).to_have_count(3)
            buried = [t.task_id for t in gator.broker.buried("emails")]
            page.click(f"text={buried[0]}")
            # Then the <script> argument is shown as text, and never ran
            expect(page.locator("#arguments")).to_contain_text(SCRIPT)
            assert page.evaluate("typeof window.pwned") == "undefined"
            expect(page.locator("#reason")).to_contain_text("ValueError")
            # When they click Requeue without having signed in
            page.click("button.requeue")
            # Then it is refused and nothing moved
            expect(page.locator("#error")).to_contain_text("token")
            assert gator.broker.stats("emails").buried == 3
            # When they sign in with the token and click Requeue on the queue page
            page.goto(url + "/login?next=/queue%3Fname%3Demails")
            page.fill("#token", TOKEN)
            page.click("#login")
            expect(page.locator("#buried tbody tr")).to_have_count(3)
            page.locator(f'tr[data-task="{buried[1]}"] button.requeue').click()
            # Then the task leaves the buried list and the backend has it ready again
            expect(page.locator("#message")).to_contain_text(f"requeued {buried[1]}")
            expect(page.locator("#buried tbody tr")).to_have_count(2)
            assert _count(page, "emails", "buried") == "2"
            after = gator.broker.stats("emails")
            assert (after.ready, after.buried) == (4, 2)
            assert buried[1] not in [t.task_id for t in gator.broker.buried("emails")]
            shot = os.environ.get("ALLIGATOR_SCREENSHOT") or str(tmp_path / "dashboard.png")
            page.screenshot(path=shot, full_page=True)
            # When they purge the rest, a confirmation comes first
            page.click("#purge-all")
            expect(page.locator("#question")).to_contain_text("Delete all 2 buried tasks")
            assert gator.broker.stats("emails").buried == 2
            page.click("#confirm")
            expect(page.locator("#no-buried")).to_be_visible()
            assert gator.broker.stats("emails").buried == 0
