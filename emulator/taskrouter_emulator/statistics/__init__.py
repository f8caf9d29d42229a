"""Statistics: real-time figures read from the current state, cumulative figures folded from the
workspace's own event log, so both agree with what the Events API and callbacks showed."""
