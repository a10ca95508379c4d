"""Pure rules: statuses and their order, timestamps, what an event changes."""
