"""``translated``: the one way a backend turns driver errors into ours."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from alligator.exceptions import (
    AlligatorError,
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    translated,
)


class DriverError(Exception):
    """Stands in for a driver's base error."""


class DriverConnectionError(DriverError):
    """Stands in for a driver's "cannot reach the server"."""


ERRORS = {DriverConnectionError: BackendConnectionError, DriverError: BackendError}


def test_a_driver_error_becomes_ours_chained_with_a_prefixed_message() -> None:
    # Given a driver error raised inside the block
    cause = DriverError("WRONGTYPE Operation against a key")
    # When it leaves the block
    with pytest.raises(BackendError) as caught, translated(ERRORS, "redis: push failed"):
        raise cause
    # Then it is ours, the driver's exception is the cause, and the message says what failed
    assert type(caught.value) is BackendError
    assert caught.value.__cause__ is cause
    assert str(caught.value) == "redis: push failed: DriverError: WRONGTYPE Operation against a key"


def test_the_first_matching_class_wins_so_subclasses_go_first() -> None:
    with pytest.raises(BackendConnectionError), translated(ERRORS, "x"):
        raise DriverConnectionError("refused")
    # And in the other order the base class would take it
    with (
        pytest.raises(BackendError) as caught,
        translated({DriverError: BackendError, DriverConnectionError: BackendConnectionError}, "x"),
    ):
        raise DriverConnectionError("refused")
    assert not isinstance(caught.value, BackendConnectionError)


def test_our_own_errors_pass_unchanged_even_when_a_builtin_base_matches() -> None:
    # ConfigurationError is a ValueError and BackendConnectionError an OSError
    mine = ConfigurationError("bad priority")
    broad = translated({ValueError: BackendError, OSError: BackendConnectionError}, "x")
    with pytest.raises(ConfigurationError) as caught, broad:
        raise mine
    assert caught.value is mine
    lost = BackendConnectionError("already ours")
    with pytest.raises(BackendConnectionError) as again, broad:
        raise lost
    assert again.value is lost and again.value.__cause__ is None


def test_an_unmapped_exception_propagates_unchanged() -> None:
    with pytest.raises(KeyError), translated(ERRORS, "x"):
        raise KeyError("a bug should look like one")


def test_keyboard_interrupt_is_never_translated() -> None:
    with pytest.raises(KeyboardInterrupt), translated({Exception: BackendError}, "x"):
        raise KeyboardInterrupt


def test_no_exception_no_effect() -> None:
    with translated(ERRORS, "x"):
        value = 1
    assert value == 1


def test_a_function_may_pick_the_class_from_the_exception() -> None:
    # Given a driver that puts the distinction in the message, as sqlite3 does
    def by_message(exc: Exception) -> type[AlligatorError]:
        return BackendConnectionError if "locked" in str(exc) else BackendError

    errors = {sqlite3.Error: by_message}
    # Then each error gets the class the function picks
    with pytest.raises(BackendConnectionError), translated(errors, "SQLite"):
        raise sqlite3.OperationalError("database is locked")
    with pytest.raises(BackendError) as caught, translated(errors, "SQLite"):
        raise sqlite3.OperationalError("no such table: nope")
    assert not isinstance(caught.value, BackendConnectionError)


def test_one_instance_is_reusable_and_safe_across_threads() -> None:
    # Given one translation built once, as the drivers' hot paths do
    script = translated(ERRORS, "redis: script failed")
    seen: list[type[BaseException]] = []

    def use() -> None:
        for i in range(200):
            try:
                with script:
                    if i % 2:
                        raise DriverConnectionError("gone")
            except AlligatorError as exc:
                seen.append(type(exc))

    # When several threads enter it at once
    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every failure was translated, and nothing else raised
    assert seen == [BackendConnectionError] * 400
