/// The version of opsd and opsctl, reported by `--version` and `opsctl status`.
public let opsVersion = "0.1.0"
