import CYAML

/// A node of a YAML document with the line it starts on: the tree `ConfigParser` walks.
///
/// Built from libyaml's events (the parser behind PyYAML and Yams) by `YAMLDocument.compose`.
/// Aliases are resolved to a copy of their anchored node, so the tree has no alias nodes; tags
/// are ignored, since every key of the config has one expected type.
enum Node {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Items)

    /// A scalar's text and how it was written (a quoted "null" is text, a plain one is nothing).
    struct Scalar {
        enum Style { case plain, quoted, block }
        let string: String
        let style: Style
        let line: Int
    }

    /// A mapping's pairs, in file order.
    struct Mapping: Sequence {
        let pairs: [(Node, Node)]
        let line: Int
        func makeIterator() -> IndexingIterator<[(Node, Node)]> { pairs.makeIterator() }
    }

    /// A sequence's items, in file order.
    struct Items: Sequence {
        let items: [Node]
        let line: Int
        func makeIterator() -> IndexingIterator<[Node]> { items.makeIterator() }
    }

    /// The 1-based line the node starts on.
    var line: Int {
        switch self {
        case .scalar(let scalar): scalar.line
        case .mapping(let mapping): mapping.line
        case .sequence(let items): items.line
        }
    }

    /// The scalar, if this is one.
    var scalar: Scalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }
}

/// A problem with the YAML itself (syntax, an unknown alias, a repeated key), in a sentence that
/// follows the file's name, with the line it was found on.
struct YAMLError: Error, Equatable {
    let message: String
    let line: Int?
}

/// The one document of a YAML text as a `Node` tree.
enum YAMLDocument {
    /// Deeper nesting is refused: a configuration needs a handful of levels, and the composer
    /// recurses once per level (and libyaml slows down quadratically with flow depth), so a
    /// file of `[[[[…` would otherwise exhaust the stack or stall start-up and reload.
    static let maximumDepth = 64
    /// At most this many nodes may be composed, counting every node an alias repeats. Aliases
    /// make a small text stand for a huge tree (ten nested aliases of ten items each are 10¹⁰
    /// nodes, the "billion laughs"), which the config's readers would walk node by node: a 1 MiB
    /// file of aliases took 66 s and 454 MiB before this bound. A real configuration has a few
    /// thousand nodes; so does each of its aliases at most.
    static let maximumNodes = 100_000

    /// Parses `text`; nil for a text without a document (empty, or only comments). Duplicate
    /// keys in a mapping are an error, as in Yams: a second `socket:` silently winning would
    /// hide a typo. So is a second document (`---`), whose keys would otherwise be ignored, and
    /// nesting deeper than `maximumDepth`, or aliases that expand beyond `maximumNodes`.
    static func compose(_ text: String) throws(YAMLError) -> Node? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLError(message: "cannot start the YAML parser (out of memory)", line: nil) }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        // The parser reads the buffer and the composer the parser only inside these scopes.
        return try bytes.withUnsafeBufferPointer { buffer throws(YAMLError) -> Node? in
            try withUnsafeMutablePointer(to: &parser) { pointer throws(YAMLError) -> Node? in
                yaml_parser_set_input_string(pointer, buffer.baseAddress, buffer.count)
                var composer = Composer(parser: pointer)
                return try composer.document()
            }
        }
    }
}

/// Turns libyaml's event stream into nodes, one event at a time.
private struct Composer {
    /// One event with what the composer needs from it, copied out of libyaml's memory.
    enum Event {
        case streamStart, streamEnd, documentStart(line: Int), documentEnd
        case scalar(String, Node.Scalar.Style, anchor: String?, line: Int)
        case alias(String, line: Int)
        case sequenceStart(anchor: String?, line: Int), sequenceEnd
        case mappingStart(anchor: String?, line: Int), mappingEnd
    }

    let parser: UnsafeMutablePointer<yaml_parser_t>
    /// Each anchored node with the number of nodes it stands for (its own and its aliases').
    var anchors: [String: (node: Node, size: Int)] = [:]
    /// Collections open around the node being read.
    var depth = 0
    /// Nodes composed so far, aliases counted with every node they repeat.
    var composed = 0
    /// Whether an alias was expanded, for the message when `composed` passes the limit.
    var expandedAliases = false

    init(parser: UnsafeMutablePointer<yaml_parser_t>) {
        self.parser = parser
    }

    mutating func document() throws(YAMLError) -> Node? {
        guard case .streamStart = try next() else { throw YAMLError(message: "the text does not start a YAML stream", line: nil) }
        switch try next() {
        case .streamEnd: return nil
        case .documentStart:
            let root = try node(from: try next())
            guard case .documentEnd = try next() else { throw YAMLError(message: "expected the end of the document", line: root.line) }
            if case .documentStart(let line) = try next() {
                throw YAMLError(message: "holds a second YAML document (after ---); keep the whole configuration in one", line: line)
            }
            return root
        default:
            throw YAMLError(message: "expected a document", line: nil)
        }
    }

    private mutating func node(from event: Event) throws(YAMLError) -> Node {
        let start = composed
        switch event {
        case .scalar(let text, let style, let anchor, let line):
            try count(1, line: line)
            return remember(.scalar(Node.Scalar(string: text, style: style, line: line)), as: anchor, size: composed - start)
        case .alias(let name, let line):
            guard let anchored = anchors[name] else { throw YAMLError(message: "the alias *\(name) names no anchor (&\(name)) before it", line: line) }
            expandedAliases = true
            try count(anchored.size, line: line)
            return anchored.node
        case .sequenceStart(let anchor, let line):
            try count(1, line: line)
            try enter(line: line)
            defer { depth -= 1 }
            var items: [Node] = []
            while true {
                let next = try next()
                if case .sequenceEnd = next { break }
                items.append(try node(from: next))
            }
            return remember(.sequence(Node.Items(items: items, line: line)), as: anchor, size: composed - start)
        case .mappingStart(let anchor, let line):
            try count(1, line: line)
            try enter(line: line)
            defer { depth -= 1 }
            var pairs: [(Node, Node)] = []
            var seen: Set<String> = []
            while true {
                let next = try next()
                if case .mappingEnd = next { break }
                let key = try node(from: next)
                let value = try node(from: try self.next())
                if let name = key.scalar?.string, !seen.insert(name).inserted {
                    throw YAMLError(message: "the key \"\(name)\" appears more than once in the mapping that starts here; keep one", line: line)
                }
                pairs.append((key, value))
            }
            return remember(.mapping(Node.Mapping(pairs: pairs, line: line)), as: anchor, size: composed - start)
        default:
            throw YAMLError(message: "unexpected YAML structure", line: nil)
        }
    }

    private mutating func enter(line: Int) throws(YAMLError) {
        depth += 1
        guard depth <= YAMLDocument.maximumDepth else {
            throw YAMLError(message: "nests lists and mappings more than \(YAMLDocument.maximumDepth) levels deep; a configuration never needs that", line: line)
        }
    }

    private mutating func remember(_ node: Node, as anchor: String?, size: Int) -> Node {
        if let anchor { anchors[anchor] = (node, size) }
        return node
    }

    /// Counts `nodes` more composed nodes, refusing the text once they pass `maximumNodes`.
    private mutating func count(_ nodes: Int, line: Int) throws(YAMLError) {
        composed += nodes
        guard composed <= YAMLDocument.maximumNodes else {
            let message = expandedAliases
                ? "expands to more than \(YAMLDocument.maximumNodes) values through its aliases (*name); a configuration never needs that many, so repeat less through aliases"
                : "holds more than \(YAMLDocument.maximumNodes) values; a configuration never needs that many, so check that this is the right file"
            throw YAMLError(message: message, line: line)
        }
    }

    /// The next event, copied into Swift values; libyaml's own is freed at once.
    private mutating func next() throws(YAMLError) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else {
            let problem = parser.pointee.problem.map { String(cString: $0) } ?? "unknown error"
            let context = parser.pointee.context.map { String(cString: $0) + ": " } ?? ""
            throw YAMLError(message: "is not valid YAML: " + context + problem, line: Int(parser.pointee.problem_mark.line) + 1)
        }
        defer { yaml_event_delete(&event) }
        let line = Int(event.start_mark.line) + 1
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_STREAM_END_EVENT: return .streamEnd
        case YAML_DOCUMENT_START_EVENT: return .documentStart(line: line)
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT: return .alias(Self.text(event.data.alias.anchor) ?? "", line: line)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let value = scalar.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: scalar.length), as: UTF8.self) } ?? ""
            let style: Node.Scalar.Style = switch scalar.style {
            case YAML_PLAIN_SCALAR_STYLE: .plain
            case YAML_LITERAL_SCALAR_STYLE, YAML_FOLDED_SCALAR_STYLE: .block
            default: .quoted
            }
            return .scalar(value, style, anchor: Self.text(scalar.anchor), line: line)
        case YAML_SEQUENCE_START_EVENT: return .sequenceStart(anchor: Self.text(event.data.sequence_start.anchor), line: line)
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT: return .mappingStart(anchor: Self.text(event.data.mapping_start.anchor), line: line)
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default: throw YAMLError(message: "unexpected YAML event", line: line)
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
