"""Writes the clients' gRPC service config (retry policy as data) from the protos' idempotency levels.

Every method marked `option idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT` is retried on UNAVAILABLE and
RESOURCE_EXHAUSTED with exponential backoff; nothing else is retried, because a repeated Create or Update could
apply twice. Reads a FileDescriptorSet (protoc --descriptor_set_out) on stdin, prints JSON on stdout, sorted,
so the output is deterministic. New services and methods are picked up without editing this file.
"""

from __future__ import annotations

import json
import sys

from google.protobuf import descriptor_pb2

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.2s",
    "maxBackoff": "5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
}
SAFE = {
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT,
}


def main() -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(sys.stdin.buffer.read())
    names = []
    for file in files.file:
        for service in file.service:
            for method in service.method:
                if method.options.idempotency_level in SAFE:
                    names.append({"service": f"{file.package}.{service.name}", "method": method.name})
    names.sort(key=lambda n: (n["service"], n["method"]))
    config = {"methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}]} if names else {"methodConfig": []}
    sys.stdout.write(json.dumps(config, indent=2) + "\n")


if __name__ == "__main__":
    main()
