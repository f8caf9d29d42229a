"""Task routing in the emulator.

- config.py: a Workflow's Configuration JSON, parsed and validated (errors say where);
- engine.py: task order in a queue and worker ranking (no store);
- space.py: one workspace's routing records and indexes; changes.py: change requests, filters, errors;
- base.py -> resources.py -> lifecycle.py -> dispatch.py: the Store's routing half as a chain of mixins
  (timers and persistence; channels, queues, workflows, worker channels; tasks, the workflow walk and
  reservations; the routing pass), combined in store.RoutingStore and mixed into state.Store;
- event_data.py: the catalog fields of each routing event; persist.py: rebuilding from the state file;
- timers.py: the virtual clock and the timer heap; runner.py: firing timers in real time.
"""
