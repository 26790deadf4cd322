enum _PlaceholderOpsLogging {}
