"""Graph API error answers the emulator gives, with the codes and subcodes it uses.

The 2804xxx subcodes are the emulator's own choice (Meta documents only a few of them);
docs/emulator.md lists them. Codes follow meta-capi-facts.md: 1/2 server errors,
4/17/32/341/613/80003/80004 throttling, 100 invalid parameter, 104 missing token,
190 bad token, 10 and 200-299 permissions. `injected()` answers any code (fault injection).
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass

# Subcodes of code 100 for an invalid event (the whole request is rejected).
MISSING_PARAMETER = 2804001
WRONG_TYPE = 2804002
EVENT_TIME_TOO_OLD = 2804003
EVENT_TIME_IN_FUTURE = 2804004
INVALID_ACTION_SOURCE = 2804005
INVALID_CUSTOMER_INFORMATION = 2804006
INVALID_CURRENCY = 2804007
INVALID_VALUE = 2804008
INVALID_CONTENTS = 2804009
INVALID_DATA_PROCESSING_OPTIONS = 2804030
NOT_ENOUGH_CUSTOMER_INFORMATION = 2804050
REJECTED_EVENT = 2804090  # an event id on the emulator's poison list

# Subcode of code 100 for a dataset the token cannot reach.
UNKNOWN_OBJECT = 33

THROTTLING_CODES = (4, 17, 32, 341, 613, 80003, 80004)
TRANSIENT_CODES = (1, 2, *THROTTLING_CODES)   # Graph sets is_transient for these

_USER_TITLES = {
    MISSING_PARAMETER: "Missing Event Parameter",
    WRONG_TYPE: "Malformed Event Parameter",
    EVENT_TIME_TOO_OLD: "Event Timestamp Too Old",
    EVENT_TIME_IN_FUTURE: "Event Timestamp In The Future",
    INVALID_ACTION_SOURCE: "Invalid Action Source",
    INVALID_CUSTOMER_INFORMATION: "Invalid Customer Information Parameter",
    INVALID_CURRENCY: "Invalid Currency",
    INVALID_VALUE: "Invalid Value",
    INVALID_CONTENTS: "Invalid Contents",
    INVALID_DATA_PROCESSING_OPTIONS: "Invalid Data Processing Options",
    NOT_ENOUGH_CUSTOMER_INFORMATION: "Not Enough Customer Information",
    REJECTED_EVENT: "Invalid Event",
}

_THROTTLING_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    341: "(#341) Application limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80003: "(#80003) There have been too many calls to this ad-account. Wait a bit and try again.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
}


def new_fbtrace_id() -> str:
    """A random id shaped like Graph's fbtrace_id (23 url-safe characters)."""
    return "A" + base64.urlsafe_b64encode(os.urandom(16)).decode("ascii")[:22]


@dataclass
class GraphError(Exception):
    """One Graph error answer: HTTP status plus the `error` object."""

    http_status: int
    code: int
    message: str
    subcode: int | None = None
    user_title: str | None = None
    user_msg: str | None = None
    is_transient: bool = False
    type: str = "OAuthException"

    def __str__(self) -> str:
        return self.message

    def body(self, fbtrace_id: str) -> dict:
        error: dict = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def invalid_event(subcode: int, index: int, event_id: object, detail: str) -> GraphError:
    """Code 100 with a 2804xxx subcode; the message names the event's index (and id)."""
    where = f"data[{index}]"
    if isinstance(event_id, str) and event_id:
        where += f" (event_id {event_id[:100]})"
    return GraphError(
        http_status=400,
        code=100,
        subcode=subcode,
        message=f"(#100) Invalid parameter: event {where}: {detail}",
        user_title=_USER_TITLES[subcode],
        user_msg=f"The event at index {index} of data is invalid: {detail}. No event of this request was processed.",
    )


def invalid_request(message: str) -> GraphError:
    """Code 100 without subcode: the request as a whole is malformed (not one event)."""
    return GraphError(http_status=400, code=100, message=f"(#100) {message}")


def missing_token() -> GraphError:
    return GraphError(http_status=400, code=104, message="An access token is required to request this resource.")


def bad_token() -> GraphError:
    return GraphError(
        http_status=400, code=190, message="Invalid OAuth access token - Cannot parse access token"
    )


def unknown_dataset(dataset_id: str) -> GraphError:
    return GraphError(
        http_status=400,
        code=100,
        subcode=UNKNOWN_OBJECT,
        type="GraphMethodException",
        message=(
            f"Unsupported post request. Object with ID '{dataset_id[:100]}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation."
        ),
    )


def appsecret_proof_missing() -> GraphError:
    return GraphError(
        http_status=400, code=100, message="API calls from the server require an appsecret_proof argument"
    )


def appsecret_proof_invalid() -> GraphError:
    return GraphError(
        http_status=400, code=100, message="Invalid appsecret_proof provided in the API argument"
    )


def server_error(code: int = 1) -> GraphError:
    """Code 1 (HTTP 500, unknown error) or code 2 (HTTP 503, service unavailable); transient."""
    if code == 2:
        return GraphError(http_status=503, code=2, is_transient=True,
                          message="An unexpected error has occurred. Please retry your request later.")
    return GraphError(http_status=500, code=code, is_transient=True,
                      message="An unknown error occurred")


def throttled(code: int = 613) -> GraphError:
    message = _THROTTLING_MESSAGES.get(code, f"(#{code}) Request limit reached")
    return GraphError(http_status=400, code=code, is_transient=True, message=message)


def unknown_path(path: str) -> GraphError:
    return GraphError(http_status=400, code=2500, message=f"Unknown path components: {path[:200]}")


def unsupported_method(method: str) -> GraphError:
    return GraphError(http_status=400, code=100, message=f"(#100) Unsupported {method.lower()} request.")


def permission_denied(code: int = 10) -> GraphError:
    """Code 10 or 200-299: the token lacks a permission."""
    if code == 10:
        message = "(#10) Application does not have permission for this action"
    else:
        message = f"(#{code}) Permissions error"
    return GraphError(http_status=400, code=code, message=message)


def injected(code: int, subcode: int | None = None, *, http_status: int | None = None,
             is_transient: bool | None = None, dataset_id: str = "") -> GraphError:
    """Any Graph error, for fault injection: the emulator's own answer for a code it knows
    (1, 2, throttling, 10, 100/33, 104, 190, 200-299), else a generic message naming the code.
    `http_status` and `is_transient` override the defaults (HTTP 500/503 for codes 1/2, else
    400; transient for 1, 2 and the throttling codes)."""
    if code in (1, 2):
        error = server_error(code)
    elif code in THROTTLING_CODES:
        error = throttled(code)
    elif code == 10 or 200 <= code <= 299:
        error = permission_denied(code)
    elif code == 100 and subcode == UNKNOWN_OBJECT:
        error = unknown_dataset(dataset_id)
    elif code == 100:
        error = invalid_request("Invalid parameter")
        error.user_title = _USER_TITLES.get(subcode)
    elif code == 104:
        error = missing_token()
    elif code == 190:
        error = bad_token()
    else:
        error = GraphError(http_status=400, code=code,
                           message=f"(#{code}) An error occurred (code {code} injected by the emulator)",
                           is_transient=code in TRANSIENT_CODES)
    error.subcode = subcode
    if http_status is not None:
        error.http_status = http_status
    if is_transient is not None:
        error.is_transient = is_transient
    return error
