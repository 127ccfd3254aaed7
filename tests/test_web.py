"""The dashboard over HTTP: what it shows, what it does, and what it refuses.

A real uvicorn serves it on a free loopback port; the test talks to it with
httpx and checks every answer against the backend, on every backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from alligator import Gator, Worker
from alligator.cli import main
from alligator.cli.web import TOKEN_ENV, is_loopback, token_of
from tests import tasks
from tests.web_server import TOKEN, serving

SCRIPT = "<script>window.pwned=1</script>"


def _bury(gator: Gator, *messages: str) -> None:
    """Enqueue one failing task per message and let a worker bury them all."""
    for message in messages:
        gator.task(tasks.fail, message)
    Worker(gator, recycle_after=len(messages), poll_timeout=0.1, nap_time=0.01).run_forever()


def _signed_in(client: httpx.Client) -> None:
    client.get("/login")
    reply = client.post("/login", data={"csrf": _csrf(client), "token": TOKEN, "next": "/"})
    assert reply.status_code == 303


def _csrf(client: httpx.Client) -> str:
    value = client.cookies.get("alligator_csrf")
    assert value
    return value


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=30) as made:
        yield made


def test_every_backend_shows_counts_buried_tasks_and_requeues_and_purges(
    any_dsn: str, queue_name: str, client: httpx.Client
) -> None:
    # Given a queue with two buried tasks (one with a <script> argument) and three ready ones
    with Gator(any_dsn, queue_name=queue_name) as gator:
        _bury(gator, SCRIPT, "plain")
        for i in range(3):
            gator.task(tasks.add, i, i)
        assert gator.broker.stats(queue_name).buried == 2
        buried = [t.task_id for t in gator.broker.buried(queue_name)]
        with serving(any_dsn, queues=[queue_name]) as url:
            client.base_url = httpx.URL(url)
            # When the dashboard is read
            counts = client.get("/api/counts").json()
            page = client.get("/queue", params={"name": queue_name}).text
            detail = client.get("/task", params={"queue": queue_name, "id": buried[0]}).text
            # Then its counts are the backend's
            stats = gator.broker.stats(queue_name)
            states = ("ready", "delayed", "reserved", "buried")
            assert counts == [{"queue": queue_name, **{k: getattr(stats, k) for k in states}}]
            # And the buried tasks are listed with their function, the argument escaped
            assert all(task_id in page for task_id in buried)
            assert "tests.tasks:fail" in page
            assert SCRIPT not in page and SCRIPT not in detail
            assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in detail
            assert "ValueError" in detail and "tests.tasks:fail" in detail
            # And an action without the token is refused, changing nothing
            refused = client.post(
                "/action",
                data={"csrf": _csrf(client), "queue": queue_name, "action": "requeue",
                      "id": buried[0]},
            )  # fmt: skip
            assert refused.status_code == 403
            assert gator.broker.stats(queue_name) == stats
            # And signed in, requeue one moves it back to ready
            _signed_in(client)
            done = client.post(
                "/action",
                data={"csrf": _csrf(client), "queue": queue_name, "action": "requeue",
                      "id": buried[0]},
            )  # fmt: skip
            assert done.status_code == 303, done.text
            after = gator.broker.stats(queue_name)
            assert (after.buried, after.ready) == (1, 4)
            # And purge all needs its confirmation, then deletes the buried ones only
            form = {"csrf": _csrf(client), "queue": queue_name, "action": "purge-all"}
            assert client.post("/action", data=form).status_code == 400
            assert client.post("/action", data={**form, "confirm": "yes"}).status_code == 303
            assert gator.broker.stats(queue_name) == type(after)(ready=4)


def test_the_index_lists_every_queue_the_backend_names(
    sqlite_dsn: str, client: httpx.Client
) -> None:
    # Given tasks on two queues
    with (
        Gator(sqlite_dsn, queue_name="first") as first,
        Gator(sqlite_dsn, queue_name="second") as second,
    ):
        first.task(tasks.add, 1, 1)
        second.task(tasks.add, 2, 2)
        # When the dashboard is started without -q
        with serving(sqlite_dsn) as url:
            page = client.get(url + "/").text
    # Then both are listed, linked to their page
    assert 'href="/queue?name=first"' in page and 'href="/queue?name=second"' in page


def test_forms_without_csrf_a_wrong_token_and_read_only_are_refused(
    locmem_dsn: str, client: httpx.Client
) -> None:
    with Gator(locmem_dsn) as gator:
        _bury(gator, "x")
        [task] = gator.broker.buried("all")
        action = {"queue": "all", "action": "requeue", "id": task.task_id}
        with serving(locmem_dsn, queues=["all"]) as url:
            client.base_url = httpx.URL(url)
            client.get("/")
            # A wrong token does not sign in
            wrong = client.post("/login", data={"csrf": _csrf(client), "token": "nope"})
            assert wrong.status_code == 403 and "alligator_session" not in client.cookies
            _signed_in(client)
            # Signed in, a form without the CSRF token (or with another one) is refused
            assert client.post("/action", data=action).status_code == 403
            assert client.post("/action", data={**action, "csrf": "forged"}).status_code == 403
            assert gator.broker.stats("all").buried == 1
            # A script may act with the token as a bearer header instead
            bearer = httpx.post(url + "/action", data=action,
                                headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
            assert bearer.status_code == 303 and gator.broker.stats("all").buried == 0
        _bury(gator, "y")
        [task] = gator.broker.buried("all")
        with serving(locmem_dsn, queues=["all"], read_only=True) as url:
            # Read-only: no action is shown, and none is done, even with the token
            page = httpx.get(url + "/queue", params={"name": "all"}).text
            assert task.task_id in page and "Requeue" not in page
            refused = httpx.post(url + "/action", data={**action, "id": task.task_id},
                                 headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
            assert refused.status_code == 403 and gator.broker.stats("all").buried == 1


def test_a_request_for_another_host_name_is_refused(locmem_dsn: str) -> None:
    # Given a dashboard on 127.0.0.1, when a page rebinds a DNS name to it
    with serving(locmem_dsn) as url:
        reply = httpx.get(url + "/", headers={"Host": "attacker.example"})
        # Then it is not answered, while 127.0.0.1 and localhost are
        assert reply.status_code == 400
        assert httpx.get(url + "/", headers={"Host": "localhost"}).status_code == 200
        # And every page says where scripts may come from
        csp = httpx.get(url + "/").headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_hidden_arguments_and_stored_results(locmem_dsn: str) -> None:
    # Given a queue keeping outcomes, one task done, one buried with a secret argument
    with Gator(locmem_dsn, results=True) as gator:
        ok = gator.task(tasks.add, 20, 22)
        Worker(gator, max_tasks=1, poll_timeout=0.1).run_forever()
        _bury(gator, "secret-password")
        [buried] = gator.broker.buried("all")
        with serving(locmem_dsn, queues=["all"]) as url:
            # Then a finished task shows its stored value
            done = httpx.get(url + "/task", params={"queue": "all", "id": ok.task_id}).text
            assert "SUCCESS" in done and "<code>42</code>" in done
        with serving(locmem_dsn, queues=["all"], hide_args=True) as url:
            # And with --hide-args neither arguments nor values are shown
            shown = httpx.get(url + "/task", params={"queue": "all", "id": buried.task_id}).text
            assert "secret-password'" not in shown.split("Why it was buried")[0]
            assert "(hidden)" in shown
            done = httpx.get(url + "/task", params={"queue": "all", "id": ok.task_id}).text
            assert "<code>42</code>" not in done


def test_buried_tasks_come_a_page_at_a_time(locmem_dsn: str) -> None:
    # Given 120 buried tasks
    with Gator(locmem_dsn) as gator:
        _bury(gator, *(f"m{i}" for i in range(120)))
        with serving(locmem_dsn, queues=["all"]) as url:
            # When the third page is read
            page = httpx.get(url + "/queue", params={"name": "all", "page": "3"}).text
    # Then it holds the last 20 rows, and says where it is
    assert len(re.findall(r"<tr data-task=", page)) == 20
    assert "Page 3 of 3" in page


def test_the_command_refuses_a_public_address_without_a_token(
    locmem_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    # When the dashboard would listen on every address with no token
    code = main(["web", locmem_dsn, "--host", "0.0.0.0", "--port", "0"])
    # Then it refuses to start, saying how to give one
    assert code == 2
    assert TOKEN_ENV in capsys.readouterr().err
    # And on loopback a random token is made and printed
    args = type("Args", (), {"token": None, "read_only": False, "host": "127.0.0.1"})()
    made = token_of(args, {})
    assert made and made in capsys.readouterr().out
    assert token_of(args, {TOKEN_ENV: "from-env"}) == "from-env"
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
