"""The ground every layer stands on: shared types, errors, times and the event contract.

Imports only the standard library and NumPy; nothing here knows about cameras' transport,
storage, models or the API.
"""
