"""The family's saves: battery save RAM (``.srm``), numbered save states, the Continue state, and what
ending a game keeps.

Functions take the database and the data directory (not the whole app), so the server's sessions, the
web routes and the command line share one implementation. Layers: saves sits above ``emulation`` (it asks
a running worker for a state) and below ``streaming`` and ``web``.
"""
