import FoundationEssentials
import Glibc

/// Reads and validates configuration files. This is the only way a `Configuration` is made from a
/// file, so `opsd`, `opsctl config check` and a reload all accept and refuse exactly the same files.
public enum ConfigLoader {
    /// The config file used when none is named.
    public static let defaultPath = "/etc/ops/ops.yaml"
    /// Config files are small; anything larger is almost certainly the wrong file.
    static let maximumSize = 1 << 20

    /// The result of reading a file: a best-effort configuration and every problem found.
    ///
    /// `configuration` is filled in as far as the file allowed, so that a caller that only needs
    /// one setting (opsctl looking for the socket) can still use a file with errors elsewhere.
    public struct Result: Sendable {
        /// The absolute path that was read.
        public var path: String
        /// What could be read.
        public var configuration: Configuration
        /// Every problem, in the order found; empty means the file is valid.
        public var diagnostics: [ConfigDiagnostic]
    }

    /// Loads and validates the file at `path`, throwing every problem at once.
    public static func load(path: String) throws(ConfigError) -> Configuration {
        let result = read(path: path)
        guard result.diagnostics.isEmpty else { throw ConfigError(file: path, diagnostics: result.diagnostics) }
        return result.configuration
    }

    /// Reads the file at `path` without throwing; see `Result`.
    public static func read(path: String) -> Result {
        let absolute = absolutePath(path)
        let directory = URL(fileURLWithPath: absolute).deletingLastPathComponent().path
        func failure(_ message: String, line: Int? = nil) -> Result {
            Result(path: absolute, configuration: Configuration(), diagnostics: [ConfigDiagnostic(path: "", message: message, line: line)])
        }

        var info = stat()
        guard stat(absolute, &info) == 0 else {
            switch errno {
            case ENOENT: return failure("no such file; start from the starter config (deploy/ops.yaml in the source, installed as /etc/ops/ops.yaml) or the commented reference (examples/ops.yaml, installed in /usr/share/doc/opsd/examples/ by the package, /usr/local/share/doc/opsd/examples/ by make install), or pass --config PATH")
            case EACCES: return failure("cannot be read: permission denied; run as a user that may read it (e.g. with sudo)")
            default: return failure("cannot be read: \(String(cString: strerror(errno)))")
            }
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            return failure("is a directory, not a config file; pass the YAML file itself, e.g. \(absolute)/ops.yaml")
        }
        guard info.st_size <= maximumSize else {
            return failure("is \(info.st_size) bytes, larger than a config file can be (1 MiB); check that this is the right file")
        }
        guard let data = FileManager.default.contents(atPath: absolute) else {
            return failure(access(absolute, R_OK) != 0
                ? "cannot be read: permission denied; run as a user that may read it (e.g. with sudo)"
                : "cannot be read")
        }
        return parse(bytes: Array(data), path: absolute, baseDirectory: directory)
    }

    /// Parses config text; relative paths in it are resolved against `baseDirectory`.
    public static func parse(yaml: String, baseDirectory: String) -> Result {
        parse(bytes: Array(yaml.utf8), path: "<text>", baseDirectory: baseDirectory)
    }

    static func parse(bytes: [UInt8], path: String, baseDirectory: String) -> Result {
        func failure(_ message: String, line: Int? = nil) -> Result {
            Result(path: path, configuration: Configuration(), diagnostics: [ConfigDiagnostic(path: "", message: message, line: line)])
        }
        if let offset = firstInvalidUTF8Offset(bytes) {
            let line = bytes[..<offset].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            return failure("is not UTF-8 text (invalid byte at offset \(offset)); save it as UTF-8", line: line)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let root: Node?
        do {
            root = try YAMLDocument.compose(text)
        } catch {
            return failure(error.message, line: error.line)
        }
        guard let root, !NodeReader.isNull(root) else {
            return failure("the file is empty; start from the starter config (deploy/ops.yaml) or the commented reference (examples/ops.yaml, installed in /usr/share/doc/opsd/examples/ by the package, /usr/local/share/doc/opsd/examples/ by make install)")
        }
        let reader = NodeReader(baseDirectory: baseDirectory)
        let configuration = ConfigParser(reader: reader).configuration(from: root)
        let ordered = reader.diagnostics.enumerated().sorted {
            ($0.element.line ?? Int.max, $0.offset) < ($1.element.line ?? Int.max, $1.offset)
        }.map(\.element)
        return Result(path: path, configuration: configuration, diagnostics: ordered)
    }

    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/" + path).standardizedFileURL.path
    }
}
