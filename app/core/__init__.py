"""Configuration, errors, security, logging, metrics and dependencies of the service."""
