"""Route modules, one per area; see paperwire.web.app.ROUTE_MODULES."""
