"""Sending for signature: automation rules, what one sends for a deal, and the stage trigger."""
