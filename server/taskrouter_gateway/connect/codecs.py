"""The two Connect codecs, proto and json, for google.protobuf messages and for prebuilt responses.

The runtime's own google.protobuf codecs (connectrpc.compat) cover messages; ours add `Prebuilt`, the bytes a
prebuilt RPC hands out (StreamEvents serializes each event once for all its subscribers): the binary codec
sends them as they are, and the JSON codec renders each distinct payload once (a small LRU), so a hundred JSON
subscribers of one event cost one conversion, as a hundred gRPC subscribers cost one serialization."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)


class Prebuilt:
    """Bytes already in wire format, of a known message type."""

    __slots__ = ("data", "message_type")

    def __init__(self, data: bytes, message_type: type[Message]) -> None:
        self.data = data
        self.message_type = message_type


class BadMessage(ValueError):
    """A request body the codec cannot read: the runtime answers it as invalid_argument."""


class ProtoCodec:
    def name(self) -> str:
        return "proto"

    def encode(self, message: Message | Prebuilt) -> bytes:
        if isinstance(message, Prebuilt):
            return message.data
        return message.SerializeToString()

    def decode(self, data: bytes | bytearray, message_class: type[M]) -> M:
        try:
            return message_class.FromString(bytes(data))
        except DecodeError as exc:
            raise BadMessage(f"the request is not a valid {message_class.DESCRIPTOR.full_name}: {exc}") from None


class JsonCodec:
    """Proto3 JSON (lowerCamelCase names, int64 as strings), compact. Unknown request fields are ignored, as
    binary protobuf and the gRPC port ignore them: a newer client must work against an older gateway."""

    def __init__(self, rendered_cache: int = 256) -> None:
        self._rendered: OrderedDict[bytes, bytes] = OrderedDict()
        self._rendered_cache = rendered_cache

    def name(self) -> str:
        return "json"

    def encode(self, message: Message | Prebuilt) -> bytes:
        if isinstance(message, Prebuilt):
            return self._render_prebuilt(message)
        return _to_json(message)

    def _render_prebuilt(self, prebuilt: Prebuilt) -> bytes:
        rendered = self._rendered.get(prebuilt.data)
        if rendered is None:
            rendered = _to_json(prebuilt.message_type.FromString(prebuilt.data))
            self._rendered[prebuilt.data] = rendered
            if len(self._rendered) > self._rendered_cache:
                self._rendered.popitem(last=False)
        return rendered

    def decode(self, data: bytes | bytearray, message_class: type[M]) -> M:
        message = message_class()
        try:
            json_format.Parse(bytes(data) or b"{}", message, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise BadMessage(f"the request is not valid JSON for {message_class.DESCRIPTOR.full_name}: {exc}") from None
        return message


def _to_json(message: Message) -> bytes:
    value: Any = json_format.MessageToDict(message)
    return orjson.dumps(value)
