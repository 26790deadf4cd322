enum _PlaceholderChecks {}
