/// The release this build is: `gateway --version` prints it.
public enum GatewayVersion {
    public static let current = "0.8.0"
}
