"""The harness's lanes (`bench/scenario.py: Workload.lanes`): each lane carries on where the
last run stopped, and each wrk thread or loadgen process takes its share of them."""

from __future__ import annotations

import pytest
from bench.scenario import LaneCursors, Request
from bench.wrk import lua_script
from hypothesis import given
from hypothesis import strategies as st


def _lanes(*lengths: int) -> list[list[Request]]:
    return [
        [Request(f"/{lane}/{i}", method="PUT") for i in range(n)] for lane, n in enumerate(lengths)
    ]


def test_cursors_carry_on_and_wrap_around() -> None:
    cursors = LaneCursors(_lanes(3, 5))
    cursors.advance({0: 2, 1: 4})
    assert cursors.positions == [2, 4]
    cursors.advance({0: 2})  # a lane a run did not send keeps its place
    assert cursors.positions == [1, 4]
    cursors.advance({1: 11})
    assert cursors.positions == [1, 0]


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=20))
def test_a_lane_ends_where_all_its_requests_put_it(runs: list[int]) -> None:
    cursors = LaneCursors(_lanes(7))
    for sent in runs:
        cursors.advance({0: sent})
    assert cursors.positions == [sum(runs) % 7]


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=16))
def test_workers_share_the_lanes_round_robin(lanes: int, workers: int) -> None:
    shares = [LaneCursors.share(lanes, worker, workers) for worker in range(workers)]
    assert sorted(lane for share in shares for lane in share) == list(range(lanes))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_an_empty_lane_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one request"):
        LaneCursors(_lanes(2, 0))


def test_the_script_sends_lanes_and_counts_what_it_sent() -> None:
    script = lua_script([], lanes=_lanes(2, 3), expect_in_body=(200, b'"changed":true'))
    assert script.count("wrk.format(") == 5
    assert "lanes[lane][p + 1]" in script  # one request of the lane, at its position
    assert "peek" in script  # wrk's check of the first thread's request() sends nothing
    assert '"lanes": ' in script
    assert '"body": ' in script
    assert "\\034changed\\034:true" in script  # the expected bytes, as a Lua string


def test_lanes_and_a_client_ip_per_request_do_not_mix() -> None:
    with pytest.raises(ValueError, match="do not go together"):
        lua_script([], lanes=_lanes(1), client_ip_per_request=True)


def test_one_plain_request_keeps_the_static_script() -> None:
    script = lua_script([Request("/api/v1/me")])
    assert "function request" not in script
    assert "function response" not in script
