enum _PlaceholderBackup {}
