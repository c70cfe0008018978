/// The stored `user_id` texts a user id typed by an operator matches (docs/operations.md#sessions-from-the-command-line `--user ID`).
///
/// A session keeps its user id as the JSON text the API gave (`42` or `"42"`), and a logout of every session
/// (`{"all": true}`) matches that text exactly. On the command line the type is not visible: `--user 42` means
/// the user whose id is the integer 42 and also a user whose id is the string "42" (an API gives one user one
/// id type, so in practice this is one user); `--user u-7` only the string "u-7". An integer is recognised in
/// its canonical form only (`42`, `-3`; not `042`, `+42`, `4.2e1`), the form the store writes it in.
public struct StoredUserIDs: Sendable, Equatable {
    /// JSON texts as the store writes them (`JSONValue.jsonText`); one or two, distinct.
    public let texts: [String]

    public init(matching argument: String) {
        var texts = [JSONValue.string(argument).jsonText]
        if let integer = Int64(argument), String(integer) == argument {
            texts.insert(JSONValue.integer(integer).jsonText, at: 0)
        }
        self.texts = texts
    }
}
