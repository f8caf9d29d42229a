"""Stable identities the emulator starts with, so tests, docs and demos can name them.

They are test credentials for a local emulator, printed at start-up on purpose; never real secrets.
"""

DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "emulator" + "0" * 24
DEFAULT_API_KEY_SID = "SK" + "0" * 31 + "1"
DEFAULT_API_KEY_SECRET = "emulator-api-key-secret"
DEFAULT_WORKSPACE_SID = "WS" + "0" * 31 + "1"
DEFAULT_WORKSPACE_NAME = "Default Workspace"

# Documented TaskRouter limits.
MAX_ACTIVITIES_PER_WORKSPACE = 100
MAX_WORKERS_PER_WORKSPACE = 15_000
MAX_FRIENDLY_NAME_LENGTH = 64
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
EVENT_RETENTION_SECONDS = 30 * 24 * 3600
DEFAULT_EVENT_MINUTES = 15
CALLBACK_TIMEOUT_SECONDS = 15.0
