"""The status poller: reconciling envelopes whose Connect callbacks were lost."""
