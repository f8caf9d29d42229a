"""The benchmark suite: `python -m bench` (or `./dev bench`). See the README's "Performance" section.

Layout: __main__ (command line), context (processes, core plan, CPU readings), sections/ (one module per
benchmark), jobs_* (load run inside the load processes of agent.py), bare (the ceiling servers),
rawhttp/callbacks (the HTTP load client and presigned callbacks), targets and report.
"""
