"""The WebSocket frames of `tradovate_sim.wire`: requests built and parsed, server frames encoded and decoded."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradovate_sim import wire

line = st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)))
json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=8)


@given(endpoint=line.map(str.strip), request_id=st.integers(0, wire.MAX_REQUEST_ID), query=line,
       body=st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_request_round_trips_when_built_then_parsed(endpoint: str, request_id: int, query: str, body: str) -> None:
    # Act
    parsed = wire.parse_request(wire.build_request(endpoint, request_id, query, body))
    # Assert
    assert parsed == wire.Request(endpoint=endpoint, id=request_id, query=query, body=body)


@given(messages=st.lists(st.one_of(
    st.builds(wire.Response, s=st.integers(100, 599), i=st.none() | st.integers(0, 2**63 - 1), d=json_values),
    st.builds(wire.Event, e=st.text(min_size=1), d=json_values)), max_size=4))
def test_messages_round_trip_when_encoded_then_parsed(messages: list[wire.Message]) -> None:
    # Act
    frame = wire.parse_frame(wire.messages_frame(messages))
    # Assert
    assert frame == wire.Messages(messages)


def test_response_omits_d_when_there_is_no_data() -> None:
    assert wire.response_frame(7, 200) == 'a[{"s":200,"i":7}]'
    assert wire.response_frame(None, 400, "bad") == 'a[{"s":400,"i":null,"d":"bad"}]'
    assert wire.event_frame("props", {"x": 1}) == 'a[{"e":"props","d":{"x":1}}]'


def test_control_frames_parse_when_well_formed() -> None:
    assert wire.parse_frame(wire.OPEN) == wire.Open()
    assert wire.parse_frame(wire.HEARTBEAT) == wire.Heartbeat()
    assert wire.parse_frame(wire.close_frame(4401, "Session ended")) == wire.Close(4401, "Session ended")
    assert wire.is_heartbeat(" [] ")


@pytest.mark.parametrize("text", ["", "x", "ohno", "a{", 'c["x"]', "a[{}]", "a[1]"])
def test_parse_frame_raises_frame_error_when_malformed(text: str) -> None:
    with pytest.raises(wire.FrameError):
        wire.parse_frame(text)


@pytest.mark.parametrize("text", ["authorize", "md/getChart\nx", "a\n12345678901234567890\n\n"])
def test_parse_request_raises_frame_error_when_malformed(text: str) -> None:
    with pytest.raises(wire.FrameError):
        wire.parse_request(text)
