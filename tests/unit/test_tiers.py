"""The folder is the tier: `pytest -m "not slow"` and `pytest tests/unit` run the same tests."""

from conftest import SLOW_TESTS


def test_no_test_in_the_unit_folder_is_slow(request):
    slow = [test for test, is_slow in request.config.stash[SLOW_TESTS].items() if is_slow]
    assert [test for test in slow if test.startswith("tests/unit/")] == [], "move these to tests/integration"
