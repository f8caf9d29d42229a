"""Pure functions between protobuf messages and Twilio's REST shapes. No I/O here."""
