"""A gRPC gateway in front of Twilio TaskRouter (and the Voice call events it relies on)."""
