"""Error classification by Graph code / subcode / is_transient."""
from __future__ import annotations

import pytest

from sync.graph_errors import INVALID_EVENT, PERMANENT, THROTTLED, TRANSIENT, classify_graph_error


def err(code, subcode=None, **extra):
    return {"error": {"message": "m", "type": "OAuthException", "code": code, "error_subcode": subcode,
                      "fbtrace_id": "TRACE", **extra}}


@pytest.mark.parametrize("status, body, kind, key", [
    (500, err(1), TRANSIENT, None),
    (500, err(2), TRANSIENT, None),
    (400, err(99, is_transient=True), TRANSIENT, None),
    *[(400, err(code), THROTTLED, None) for code in (4, 17, 32, 341, 613, 80003, 80004)],
    (400, err(368), THROTTLED, None),
    (400, err(100, 2804003), INVALID_EVENT, None),
    (400, err(100, 2804050), INVALID_EVENT, None),
    (400, err(100, 2804090), INVALID_EVENT, None),
    (400, err(190, 463), PERMANENT, "destination.access_token"),
    (400, err(104), PERMANENT, "destination.access_token"),
    (400, err(100, 33), PERMANENT, "destination.dataset_id"),
    (400, err(10), PERMANENT, "destination.access_token"),
    (400, err(200), PERMANENT, "destination.access_token"),
    (400, err(299), PERMANENT, "destination.access_token"),
    (400, err(100), PERMANENT, "destination"),
    (502, None, TRANSIENT, None),
    (503, {"unexpected": 1}, TRANSIENT, None),
    (429, None, THROTTLED, None),
    (404, None, PERMANENT, "destination.endpoint"),
    (401, None, PERMANENT, "destination.access_token"),
])
def test_classification(status, body, kind, key):
    error = classify_graph_error(status, body)
    assert (error.kind, error.config_key) == (kind, key)


def test_fields_and_description():
    error = classify_graph_error(400, err(100, 33))
    assert (error.code, error.subcode, error.fbtrace_id, error.http_status) == (100, 33, "TRACE", 400)
    assert error.describe() == ("destination.dataset_id: the dataset does not exist or this token cannot reach "
                                "it (m) (HTTP 400, code 100/33, fbtrace_id TRACE)")
