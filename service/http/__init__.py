"""The HTTP toolkit every domain's routes use: the error envelope, shared schemas, JSON and
multipart bodies, streaming, request ids and access logs, and the rate-limit middleware. The
app that assembles the routes is the api process's (``service/api``)."""
