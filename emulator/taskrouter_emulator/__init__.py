"""A stateful TaskRouter REST emulator: the gateway's default upstream when no Twilio credentials are set."""
