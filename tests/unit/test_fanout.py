"""Fanout.publish: every subscriber hears every commit whatever another one does; a failing one is not a log flood."""

import logging
from collections.abc import Sequence

import pytest

from tradovate_sim.core.decision import Change, created
from tradovate_sim.model.entities import Currency
from tradovate_sim.service.platform import Fanout


class Hearing:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        self.seqs.append(seq)


class Failing:
    def __init__(self) -> None:
        self.broken = True

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        if self.broken:
            raise RuntimeError("a subscriber's bug")


def test_every_subscriber_hears_every_commit_when_one_between_them_fails(caplog: pytest.LogCaptureFixture) -> None:
    # Arrange
    fanout = Fanout()
    first, failing, last, own = Hearing(), Failing(), Hearing(), Hearing()
    fanout.subscribers += [first, failing, last]
    fanout.own += [Failing(), own]
    changes = [created(Currency(id=1, name="X"))]
    # Act
    with caplog.at_level(logging.WARNING, logger="tradovate_sim"):
        for seq in range(1, 6):
            fanout.publish(changes, seq)
    # Assert
    assert first.seqs == last.seqs == own.seqs == [1, 2, 3, 4, 5]
    failures = [r.getMessage() for r in caplog.records if r.exc_info is not None]
    assert len(failures) == 6  # each failing one at its 1st, 2nd and 4th in a row, not once a commit
    assert "test_fanout.Failing failed on commit 1 (1 in a row)" in failures[0]
    assert sum("(4 in a row)" in f for f in failures) == 2


def test_a_failing_subscriber_is_logged_when_it_recovers_and_afresh_after(caplog: pytest.LogCaptureFixture) -> None:
    # Arrange
    fanout = Fanout()
    failing, hearing = Failing(), Hearing()
    fanout.subscribers += [failing, hearing]
    changes = [created(Currency(id=1, name="X"))]
    # Act
    with caplog.at_level(logging.WARNING, logger="tradovate_sim"):
        fanout.publish(changes, 1)
        fanout.publish(changes, 2)
        failing.broken = False
        fanout.publish(changes, 3)
        failing.broken = True
        fanout.publish(changes, 4)
    # Assert
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    assert "failed on commit 1 (1 in a row)" in messages[0]
    assert "failed on commit 2 (2 in a row)" in messages[1]
    assert "recovered at commit 3 after failing on 2 commits" in messages[2]
    assert "failed on commit 4 (1 in a row)" in messages[3]
    assert hearing.seqs == [1, 2, 3, 4]
