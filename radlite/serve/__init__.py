"""HTTP API and search page: `radlite serve INDEX_DIR` (radlite.serve.app.create_app)."""

from radlite.serve.app import ServeConfig, create_app

__all__ = ["ServeConfig", "create_app"]
