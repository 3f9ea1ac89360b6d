"""Model lifecycle in the service: loading, placement and readiness."""
