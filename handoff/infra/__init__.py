"""Infrastructure the use cases run on: the group-commit writer, the event log, the event
buses, Redis presence, locks."""
