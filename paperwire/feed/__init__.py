"""Feed ranking: day, week, month and trending views."""
