"""The api's side of serving: inference routes, model resolution, routing to agents."""
