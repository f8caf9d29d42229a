"""Edges of the caller checks that the mutation run found untested: the refusal texts name the right thing, an
unreadable auth file or certificate is refused quietly rather than raised, and an error names the first bad value."""

from __future__ import annotations

import pytest

from taskrouter_gateway.auth import (
    ALL_WORKSPACES,
    AuthConfigError,
    Identity,
    PermissionDenied,
    authorize,
    certificate_names,
    jwks_path,
    parse_callers,
)

WS1, WS2 = "WS" + "1" * 32, "WS" + "2" * 32


def test_a_limited_caller_is_told_which_workspace_it_may_not_use_or_that_it_named_none():
    limited = Identity("router", frozenset({"read"}), frozenset({WS1}))
    with pytest.raises(PermissionDenied) as other:
        authorize(limited, "read", WS2)
    assert f"may not use workspace {WS2}" in str(other.value)
    with pytest.raises(PermissionDenied) as none:
        authorize(limited, "read", None)
    assert "is limited to listed workspaces; this RPC names none" in str(none.value)
    authorize(limited, "read", WS1)
    authorize(Identity("any", frozenset({"read"}), ALL_WORKSPACES), "read", None)


def test_the_first_bad_workspace_is_the_one_named():
    text = f'''
[[caller]]
name = "x"
token_sha256 = "{"a" * 64}"
scopes = ["read"]
workspaces = ["{WS1}", "first-bad", "second-bad"]
'''
    with pytest.raises(AuthConfigError) as raised:
        parse_callers(text, "callers.toml")
    assert "'first-bad' is not a WS SID" in str(raised.value) and "second-bad" not in str(raised.value)


def test_the_jwks_file_of_an_unparsable_auth_file_is_none_not_an_error(tmp_path):
    assert jwks_path("[[caller]\nname = ", str(tmp_path / "callers.toml")) is None
    assert jwks_path('[jwt]\njwks_file = "keys.json"\n', str(tmp_path / "callers.toml")) == str(tmp_path / "keys.json")
    assert jwks_path("[jwt]\njwks_file = 7\n", str(tmp_path / "callers.toml")) is None


def test_a_certificate_that_is_not_pem_answers_to_no_name():
    assert certificate_names(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n") == ()
    assert certificate_names(b"") == ()
