import pytest

from stepdeploy.polling import PollSettings, keep_polling, poll_deadline

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_polls_until_done_within_the_budget():
    clock = FakeClock()
    answers = iter([False, False, True])
    calls = keep_polling(lambda: next(answers), settings=PollSettings(interval=1, budget=600, speed=1),
                         sleep=clock.sleep, clock=clock)
    assert calls == 3 and clock.sleeps == [1, 1, 1]


def test_stops_at_the_budget_and_never_past_the_functions_timeout():
    clock = FakeClock()
    calls = keep_polling(lambda: False, settings=PollSettings(interval=1, budget=10, speed=1),
                         sleep=clock.sleep, clock=clock)
    assert calls == 10 and clock.now == pytest.approx(110)
    clock = FakeClock()
    calls = keep_polling(lambda: False, settings=PollSettings(interval=1, budget=600, speed=1),
                         remaining_ms=lambda: 25_000, sleep=clock.sleep, clock=clock)
    assert calls == 5  # 25 s left minus the 20 s safety margin


def test_no_budget_means_no_repeat():
    clock = FakeClock()
    assert keep_polling(lambda: True, settings=PollSettings(interval=1, budget=0, speed=1),
                        sleep=clock.sleep, clock=clock) == 0


def test_the_local_clock_speed_scales_interval_and_budget():
    settings = PollSettings(interval=1, budget=600, speed=60)
    assert settings.real(1) == pytest.approx(1 / 60)
    assert poll_deadline(settings, None, 0.0) == pytest.approx(10.0)
