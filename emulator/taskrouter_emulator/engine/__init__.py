"""The engine: TaskRouter's records and rules behind the Store facade (store.py), without HTTP.

From the top (what the Store calls) down (what everything uses); a module imports only from below it:
- workspaces.py, workers.py, channels.py, queues.py, workflows.py, tasks.py, reservations.py, calls.py and
  timeouts.py (firing due timers): one module per resource, plain functions taking the open Transaction
  and the workspace's Space;
- walk.py (the workflow walk) -> dispatch.py (the routing pass) -> transitions.py (task and reservation
  state transitions) -> worker_activity.py (a worker's activity moves);
- transaction.py: the Registry of all workspaces, and the Transaction every change runs in (it writes the
  state file and tells the event listeners when it commits);
- space.py: one workspace and everything in it; persist.py: reading the state file at start-up;
  timers.py: the virtual clock and the timer heap; changes.py: change requests, filters, errors;
  event_data.py: the catalog fields of each event; workflow_config.py: a Workflow's Configuration JSON;
  ranking.py: queue order and worker ranking.
"""
