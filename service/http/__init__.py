"""The HTTP edge: app factory, middleware, error mapping and the routes' shared plumbing."""
