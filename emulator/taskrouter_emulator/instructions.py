"""The parameters of a Reservation update's Instruction, as Twilio's v1 spec lists them (task- and
worker-scoped updates take the same ones, bar Supervisor/SupervisorMode, which are task-scoped only).

Each parameter belongs to one instruction; its value is checked by kind (a 400 naming it otherwise), and the
checked set is what the emulator records on the Call it makes up for the instruction. A parameter for another
instruction than the one given is a 400 too: Twilio would act on nothing, and a caller would never know."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from multidict import MultiDictProxy

from .errors import bad_parameter
from .sids import is_sid

CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "speaker")
SUPERVISOR_MODES = ("monitor", "whisper", "barge")
REGIONS = ("us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1")
# Recorded in place of a secret: the Call Events API shows recorded parameters to anyone who can read them.
REDACTED = "[redacted]"
SECRETS = frozenset({"SipAuthPassword"})


def _text(name: str, values: list[str]) -> str:
    return values[0]


def _bool(name: str, values: list[str]) -> str:
    value = values[0].strip().lower()
    if value not in ("true", "false"):
        raise bad_parameter(f"{name} must be true or false, got {values[0]!r}")
    return value


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str, list[str]], str]:
    def check(name: str, values: list[str]) -> str:
        try:
            number = int(values[0].strip())
        except ValueError:
            raise bad_parameter(f"{name} must be an integer, got {values[0]!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise bad_parameter(f"{name} must be {bounds}, got {number}")
        return str(number)
    return check


def _url(name: str, values: list[str]) -> str:
    parts = urlsplit(values[0])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_parameter(f"{name} must be an absolute http or https URL, got {values[0]!r}")
    return values[0]


def _method(name: str, values: list[str]) -> str:
    value = values[0].strip().upper()
    if value not in ("GET", "POST"):
        raise bad_parameter(f"{name} must be GET or POST, got {values[0]!r}")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, list[str]], str]:
    def check(name: str, values: list[str]) -> str:
        if values[0] not in choices:
            raise bad_parameter(f"{name} must be one of {', '.join(choices)}, got {values[0]!r}")
        return values[0]
    return check


def _many_of(choices: tuple[str, ...]) -> Callable[[str, list[str]], str]:
    """A repeated parameter (Twilio's libraries send one pair per item); recorded comma-joined."""
    def check(name: str, values: list[str]) -> str:
        for value in values:
            if value not in choices:
                raise bad_parameter(f"{name} takes {', '.join(choices)}, got {value!r}")
        return ",".join(values)
    return check


def _sid(prefix: str) -> Callable[[str, list[str]], str]:
    def check(name: str, values: list[str]) -> str:
        if not is_sid(values[0], prefix):
            raise bad_parameter(f"{name} must be a {prefix} SID ({prefix} followed by 32 hex digits), got {values[0]!r}")
        return values[0]
    return check


_Check = Callable[[str, list[str]], str]

# Instruction -> its parameters and how each is checked (the spec's types; enums from its descriptions).
PARAMETERS: dict[str, dict[str, _Check]] = {
    "dequeue": {
        "DequeuePostWorkActivitySid": _sid("WA"), "DequeueFrom": _text, "DequeueRecord": _text,
        "DequeueTimeout": _integer(1), "DequeueTo": _text, "DequeueStatusCallbackUrl": _url,
        "DequeueStatusCallbackEvent": _many_of(CALL_STATUS_EVENTS),
    },
    "call": {
        "CallFrom": _text, "CallRecord": _text, "CallTimeout": _integer(1), "CallTo": _text, "CallUrl": _url,
        "CallStatusCallbackUrl": _url, "CallAccept": _bool,
    },
    "redirect": {"RedirectCallSid": _sid("CA"), "RedirectAccept": _bool, "RedirectUrl": _url},
    "conference": {
        "To": _text, "From": _text, "StatusCallback": _url, "StatusCallbackMethod": _method,
        "StatusCallbackEvent": _many_of(CALL_STATUS_EVENTS), "Timeout": _integer(1), "Record": _bool,
        "Muted": _bool, "Beep": _one_of(("true", "false", "onEnter", "onExit")), "StartConferenceOnEnter": _bool,
        "EndConferenceOnExit": _bool, "WaitUrl": _url, "WaitMethod": _method, "EarlyMedia": _bool,
        "MaxParticipants": _integer(2, 250), "ConferenceStatusCallback": _url,
        "ConferenceStatusCallbackMethod": _method, "ConferenceStatusCallbackEvent": _many_of(CONFERENCE_EVENTS),
        "ConferenceRecord": _one_of(("true", "false", "record-from-start", "do-not-record")),
        "ConferenceTrim": _one_of(("trim-silence", "do-not-trim")), "RecordingChannels": _one_of(("mono", "dual")),
        "RecordingStatusCallback": _url, "RecordingStatusCallbackMethod": _method,
        "ConferenceRecordingStatusCallback": _url, "ConferenceRecordingStatusCallbackMethod": _method,
        "Region": _one_of(REGIONS), "SipAuthUsername": _text, "SipAuthPassword": _text,
        "PostWorkActivitySid": _sid("WA"), "EndConferenceOnCustomerExit": _bool, "BeepOnCustomerEntrance": _bool,
        "JitterBufferSize": _one_of(("small", "medium", "large", "off")),
    },
    "supervise": {"Supervisor": _text, "SupervisorMode": _one_of(SUPERVISOR_MODES)},
}
_OWNER = {name: instruction for instruction, names in PARAMETERS.items() for name in names}
# Required, per instruction: the spec marks none, but a supervise without a supervisor supervises nobody.
_REQUIRED = {"supervise": ("Supervisor",)}


def instruction_parameters(form: MultiDictProxy[str], instruction: str | None, *,
                           skip: frozenset[str]) -> dict[str, str]:
    """The instruction's parameters from the form, checked; other fields (not in `skip`) pass through as
    before. Secrets are recorded as REDACTED."""
    recorded: dict[str, str] = {}
    for name in dict.fromkeys(form.keys()):
        if name in skip:
            continue
        values = form.getall(name)
        owner = _OWNER.get(name)
        if owner is None:
            recorded[name] = values[0]  # not in the spec: recorded as given, as Twilio would ignore it
            continue
        if owner != instruction:
            raise bad_parameter(f"{name} is a parameter of Instruction={owner}, not of "
                                f"{'Instruction=' + instruction if instruction else 'a ReservationStatus update'}")
        if values[0] == "" and len(values) == 1:
            continue  # an empty value is Twilio's "not given"
        checked = PARAMETERS[owner][name](name, values)
        recorded[name] = REDACTED if name in SECRETS else checked
    for name in _REQUIRED.get(instruction or "", ()):
        if name not in recorded:
            raise bad_parameter(f"Missing required parameter {name} for Instruction={instruction}")
    return recorded
