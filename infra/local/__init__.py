"""The local stack behind `make run`, built from template.yaml."""
