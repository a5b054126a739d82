"""JSON text for statement parameters (``adapters/db/types.json_text``)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from tessera.adapters.db.types import json_text

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(JSON)
def test_json_text_parses_back_to_the_same_value(value):
    assert json.loads(json_text(value)) == value


def test_an_integer_past_64_bits_is_written_exactly():
    big = 2**70 + 1
    assert json.loads(json_text({"attributes": {"bytes": big}})) == {"attributes": {"bytes": big}}
