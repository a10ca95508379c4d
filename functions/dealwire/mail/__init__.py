"""Inbound mail: bounded MIME parsing, header values made safe, forward extraction."""
