"""The auth file as AuthPolicy reads it: explicit grants, whole reads, reloads that survive a missing file."""

from __future__ import annotations

import asyncio
import io
import os

import pytest
from structlog.testing import capture_logs
from taskrouter_gateway import auth
from taskrouter_gateway.auth import (
    ALL_WORKSPACES,
    AuthConfigError,
    AuthPolicy,
    Unauthenticated,
    hash_token,
    parse_callers,
)

WS_A, WS_B = "WS" + "a" * 32, "WS" + "b" * 32
TOKEN = "billing-token-1"


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def no_certificate() -> dict:
    return {}


def caller_of(policy: AuthPolicy, token: str) -> auth.Identity:
    return policy.authenticate(bearer(token), no_certificate)


FULL = f"""
[[caller]]
name = "billing"
token_sha256 = "{hash_token(TOKEN)}"
scopes = ["read", "write"]
workspaces = ["{WS_A}", "{WS_B}"]

[[caller]]
name = "ops"
certificate = "ops.internal"
workspaces = ["{WS_A}"]
scopes = ["read"]

[[caller]]
name = "admin"
certificate = "admin.internal"
scopes = ["read", "write", "events"]
workspaces = ["*"]
"""


def write(path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def auth_path(tmp_path):
    path = tmp_path / "callers.toml"
    write(path, FULL)
    return path


def grants(text: str) -> dict[str, tuple[frozenset, frozenset, frozenset]]:
    """Each caller's (scopes, workspaces, credentials) from an auth file's text."""
    callers = parse_callers(text, "callers.toml")
    out: dict[str, tuple[frozenset, frozenset, frozenset]] = {}
    for key, identity in [*callers.by_token.items(), *callers.by_cert.items()]:
        scopes, workspaces, creds = out.get(identity.name, (identity.scopes, identity.workspaces, frozenset()))
        out[identity.name] = (scopes, workspaces, creds | {key})
    return out


def wider(part: frozenset, whole: frozenset) -> bool:
    if "*" in whole:
        return False
    return "*" in part or not part <= whole


def test_every_prefix_of_the_file_grants_no_more_than_the_whole_file():
    """A reader that catches the file mid-write sees a prefix: it must fail to load or grant less."""
    whole = grants(FULL)
    loaded = 0
    for end in range(len(FULL)):
        try:
            part = grants(FULL[:end])
        except AuthConfigError:
            continue
        loaded += 1
        for name, (scopes, workspaces, creds) in part.items():
            full_scopes, full_workspaces, full_creds = whole[name]
            assert scopes <= full_scopes, (end, name)
            assert not wider(workspaces, full_workspaces), (end, name, workspaces)
            assert creds <= full_creds, (end, name)
    assert loaded > 0  # prefixes that end between callers do load


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", r'workspaces is required: list WS SIDs, or \["\*"\] for every workspace'),
        (f'workspaces = ["*", "{WS_A}"]\n', '"\\*" \\(every workspace\\) must stand alone'),
        ('workspaces = ["WSnope"]\n', "'WSnope' is not a WS SID"),
    ],
)
def test_a_caller_without_an_explicit_workspace_list_is_refused_at_load(tmp_path, entry, message):
    path = tmp_path / "callers.toml"
    write(path, f'[[caller]]\nname = "x"\ncertificate = "x.internal"\nscopes = ["read"]\n{entry}')
    with pytest.raises(AuthConfigError, match=message) as caught:
        AuthPolicy(str(path))
    assert "\n" not in str(caught.value)  # one line


CALLER = '[[caller]]\nname = "x"\ncertificate = "x.internal"\nscopes = ["read"]\nworkspaces = ["*"]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CALLER + CALLER.replace("x.internal", "y.internal"), "caller 'x': the name is used twice"),
        (CALLER.replace('name = "x"', "name = 7"), "caller #1: name is required"),
        (CALLER.replace('name = "x"', 'name = ""'), "caller #1: name is required"),
        (CALLER.replace("workspaces", "workspace = []\nworkspaces"), r"unknown key\(s\) \['workspace'\]"),
        (CALLER.replace('["read"]', "[1]"), "scopes must be a string or a list of non-empty strings"),
        (CALLER.replace('["read"]', '["read", ""]'), "scopes must be a string or a list of non-empty strings"),
        (CALLER.replace('"x.internal"', "7"), "certificate must be a string or a list of non-empty strings"),
        ("caller = 1\n", r"caller must be an array of tables \(\[\[caller\]\]\)"),
        ('jwt = "x"\n' + CALLER, r"jwt must be a table \(\[jwt\]\)"),
    ],
)
def test_a_malformed_entry_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "callers.toml"
    write(path, text)
    with pytest.raises(AuthConfigError, match=message):
        AuthPolicy(str(path))


def test_a_star_grants_every_workspace_and_a_list_only_its_members(auth_path):
    policy = AuthPolicy(str(auth_path))
    billing = caller_of(policy, TOKEN)
    assert billing.workspaces == {WS_A, WS_B}
    auth.authorize(billing, "read", WS_B)
    with pytest.raises(auth.PermissionDenied):
        auth.authorize(billing, "read", "WS" + "c" * 32)
    with pytest.raises(auth.PermissionDenied):
        auth.authorize(billing, "read", None)  # ListWorkspaces names none
    admin = parse_callers(FULL, "callers.toml").by_cert["admin.internal"]
    assert admin.workspaces == ALL_WORKSPACES
    auth.authorize(admin, "write", "WS" + "c" * 32)
    auth.authorize(admin, "write", None)


def test_an_upper_case_token_hash_matches_the_token(tmp_path):
    path = tmp_path / "callers.toml"
    write(path, FULL.replace(hash_token(TOKEN), hash_token(TOKEN).upper()))
    assert caller_of(AuthPolicy(str(path)), TOKEN).name == "billing"


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ('certificate = "ops.internal"', "certificate 'ops.internal' is listed for two callers"),
        ('certificate = "OPS.Internal"', "certificate 'ops.internal' is listed for two callers"),
        (f'token_sha256 = "{hash_token(TOKEN)}"', "a token hash is listed for two callers"),
    ],
)
def test_two_callers_may_not_claim_the_same_credential(tmp_path, second, message):
    path = tmp_path / "callers.toml"
    write(path, FULL + f'\n[[caller]]\nname = "thief"\n{second}\nscopes = ["read", "write", "events"]\n'
                       'workspaces = ["*"]\n')
    with pytest.raises(AuthConfigError, match=message):
        AuthPolicy(str(path))


def test_a_write_during_the_read_is_not_lost(auth_path, monkeypatch):
    """The writer lands between the read and the stamp: the refresh must read again, not keep the old text."""
    policy = AuthPolicy(str(auth_path))
    newcomer = "newcomer-token-2"
    newer = FULL + (f'\n[[caller]]\nname = "newcomer"\ntoken_sha256 = "{hash_token(newcomer)}"\n'
                    'scopes = ["read"]\nworkspaces = ["*"]\n')
    real_open = open

    def open_then_write(path, *args, **kwargs):
        if os.fspath(path) != str(auth_path) or "newcomer" in auth_path.read_text():
            return real_open(path, *args, **kwargs)
        with real_open(path, *args, **kwargs) as handle:
            text = handle.read()  # the reader has the old text...
        write(auth_path, newer)  # ...when the writer replaces it
        return io.StringIO(text)

    write(auth_path, FULL + "\n# touched\n")
    monkeypatch.setattr(auth, "open", open_then_write, raising=False)
    assert policy.refresh() is True  # the stamp moved during the read, so it read again
    assert caller_of(policy, newcomer).name == "newcomer"
    assert policy.refresh() is False  # and what it recorded as seen is what it read


def test_a_read_that_fails_mid_write_is_done_again_in_the_same_refresh(auth_path, monkeypatch):
    """The reader catches a half-written file that does not parse; by the time it checks, the writer is done."""
    policy = AuthPolicy(str(auth_path))
    finished = FULL.replace('name = "billing"', 'name = "accounts"')
    real_open = open
    reads = []

    def half_then_whole(path, *args, **kwargs):
        reads.append(path)
        if len(reads) > 1:
            return real_open(path, *args, **kwargs)
        write(auth_path, finished)
        return io.StringIO(finished[: finished.index("token_sha256") + 20])  # cut inside a string

    write(auth_path, "[[caller]]\n")  # the writer has started
    monkeypatch.setattr(auth, "open", half_then_whole, raising=False)
    assert policy.refresh() is True
    assert len(reads) == 2
    assert caller_of(policy, TOKEN).name == "accounts"


def test_a_file_that_changes_under_every_read_keeps_the_callers_in_force(auth_path, monkeypatch):
    policy = AuthPolicy(str(auth_path))
    real_open = open
    reads = []

    def open_then_write(path, *args, **kwargs):
        with real_open(path, *args, **kwargs) as handle:
            text = handle.read()
        reads.append(text)
        write(auth_path, FULL.replace('name = "billing"', f'name = "billing{len(reads)}"') + "#" * len(reads))
        return io.StringIO(text)

    write(auth_path, FULL.replace('name = "billing"', 'name = "accounts"'))
    monkeypatch.setattr(auth, "open", open_then_write, raising=False)
    with capture_logs() as logs:
        assert policy.refresh() is False
    assert 1 < len(reads) < 20  # it read again, a bounded number of times
    assert [entry["event"] for entry in logs] == [
        "auth file keeps changing while read; the previous callers stay in force"
    ]
    assert policy.reloads == 0
    assert caller_of(policy, TOKEN).name == "billing"
    monkeypatch.undo()
    assert policy.refresh() is True  # once the writer stops, the next tick reads the file
    assert caller_of(policy, TOKEN).name == f"billing{len(reads)}"


def test_reloads_are_counted_and_logged_and_refusals_are_not(auth_path):
    policy = AuthPolicy(str(auth_path))
    assert policy.reloads == 0
    with capture_logs() as logs:
        assert policy.refresh() is False  # unchanged: nothing read
        write(auth_path, FULL.replace('name = "ops"', 'name = "operators"'))
        assert policy.refresh() is True
        assert policy.refresh() is False  # what was loaded counts as seen
        write(auth_path, "[[caller]\n")
        assert policy.refresh() is False
        assert policy.refresh() is False  # a refused file is not re-read (nor re-logged) every tick
    assert policy.reloads == 1
    events = [(entry["event"], entry["log_level"]) for entry in logs]
    assert events == [
        ("auth file reloaded", "info"),
        ("auth file reload refused; the previous callers stay in force", "warning"),
    ]
    assert logs[0]["callers"] == 3 and logs[0]["path"] == str(auth_path)
    assert caller_of(policy, TOKEN).name == "billing"  # the refused edit changed nothing


async def test_a_deleted_file_keeps_the_last_callers_and_the_watch_alive(auth_path):
    policy = AuthPolicy(str(auth_path))
    with capture_logs() as logs:
        watch = asyncio.create_task(policy.watch(interval=0.001))
        try:
            auth_path.unlink()
            async with asyncio.timeout(10):
                while not any("refused" in entry["event"] for entry in logs):
                    await asyncio.sleep(0.001)
            assert not watch.done()
            assert caller_of(policy, TOKEN).name == "billing"
            write(auth_path, FULL.replace('name = "billing"', 'name = "accounts"'))
            async with asyncio.timeout(10):
                while policy.reloads == 0:
                    await asyncio.sleep(0.001)
            assert caller_of(policy, TOKEN).name == "accounts"
        finally:
            watch.cancel()
    assert "cannot read auth file" in next(e["error"] for e in logs if "refused" in e["event"])


def test_any_failure_while_checking_a_credential_is_unauthenticated(auth_path):
    policy = AuthPolicy(str(auth_path))

    def broken_context() -> dict:
        raise RuntimeError("grpc had a bad day")

    with capture_logs() as logs, pytest.raises(Unauthenticated, match="could not be checked"):
        policy.authenticate([], broken_context)
    assert logs[0]["error_type"] == "RuntimeError"
