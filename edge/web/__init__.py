"""The lane-terminal web app (FastAPI) and its static page."""
