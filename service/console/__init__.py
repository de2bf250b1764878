"""The web console: a static single-page app at ``/console`` that calls the public /v1 API."""
