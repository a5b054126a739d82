"""Notification rules: the retry schedule and what an event may be called."""

from datetime import timedelta

import pytest

from tessera.domain.errors import Invalid
from tessera.domain.notifications import backoff, validate_event_type, validate_language


def test_backoff_doubles_after_each_failure_up_to_the_cap():
    waits = [backoff(n, base_seconds=10, cap_seconds=60) for n in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (10, 20, 40, 60, 60)]


def test_unknown_event_types_and_languages_are_refused_naming_the_field():
    with pytest.raises(Invalid) as caught:
        validate_event_type("voucher.exploded")
    assert caught.value.field == "event_type"
    with pytest.raises(Invalid):
        validate_language("english!")
    assert validate_language("pt-BR") == "pt-BR"
