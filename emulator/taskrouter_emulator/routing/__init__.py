"""Task routing: the Workflow configuration model, worker eligibility and choice, and timers.

The Store (state.py, with its task-routing half in routing/store.py) owns the records; these modules hold
the rules, so they can be read (and tested) without the HTTP layer.
"""
