"""The engine: TaskRouter's records and rules behind the Store facade (store.py), without HTTP.

- space.py: one workspace and everything in it (Space, with its RoutingSpace indexes);
- transaction.py: the Registry of all workspaces, and the Transaction every change runs in (it writes the
  state file and tells the event listeners when it commits);
- workspaces.py, workers.py, channels.py, queues.py, workflows.py, tasks.py, reservations.py, calls.py: one
  module per resource, plain functions that take the open Transaction and the workspace;
- walk.py (the workflow walk) -> dispatch.py (the routing pass) -> transitions.py (task and reservation
  state transitions) -> worker_activity.py (a worker's activity moves): routing, called by the resources;
- timeouts.py: firing due timers; timers.py: the virtual clock and the timer heap;
- changes.py: change requests, filters, errors; event_data.py: the catalog fields of each event;
  workflow_config.py: a Workflow's Configuration JSON; ranking.py: queue order and worker ranking;
  persist.py: reading the state file at start-up.

Imports point down that list: no module imports one that imports it.
"""
