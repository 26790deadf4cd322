enum _PlaceholderOpsDaemon {}
