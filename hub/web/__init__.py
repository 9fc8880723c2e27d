"""The hub's web side: logins and roles (auth.py), the reviewer web app (static/)."""
