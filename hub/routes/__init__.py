"""The hub's HTTP routes, one router per resource."""
