enum _PlaceholderSystemd {}
