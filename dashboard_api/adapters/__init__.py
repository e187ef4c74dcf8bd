"""Adapters: the dashboard API's uses of a library's internals (see ``storage.adapters``)."""
