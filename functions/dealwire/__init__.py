"""dealwire: the shared library behind every function; knows nothing of Lambda events."""
