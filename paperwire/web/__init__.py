"""The web layer: pages, JSON API and feeds, thin over the domain packages."""
