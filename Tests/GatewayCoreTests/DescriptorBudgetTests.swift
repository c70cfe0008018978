import Testing
@testable import GatewayCore

/// `server.max_connections` against the descriptor limit: the default shrinks with a warning, a configured
/// value must fit.
struct DescriptorBudgetTests {
    @Test func theDefaultStandsWhenItFits() throws {
        let budget = try DescriptorBudget.decide(configured: nil, descriptorLimit: 20_000, maxUpstreamConnections: 512)
        #expect(budget == DescriptorBudget(maxConnections: 10_000, warning: nil))
    }

    @Test func theDefaultShrinksToFitWithOneWarning() throws {
        let budget = try DescriptorBudget.decide(configured: nil, descriptorLimit: 1024, maxUpstreamConnections: 512)
        #expect(budget.maxConnections == 1024 - 512 - DescriptorBudget.reserve)
        #expect(budget.warning?.contains("max_connections lowered to 448") == true)
    }

    @Test func aConfiguredValueThatFitsIsKeptSilently() throws {
        let budget = try DescriptorBudget.decide(configured: 19_000, descriptorLimit: 20_000, maxUpstreamConnections: 512)
        #expect(budget == DescriptorBudget(maxConnections: 19_000, warning: nil))
    }

    @Test func aConfiguredValueThatDoesNotFitIsAnError() {
        #expect(throws: StartupProblem.self) {
            try DescriptorBudget.decide(configured: 19_500, descriptorLimit: 20_000, maxUpstreamConnections: 512)
        }
    }

    @Test func noRoomAtAllIsAnError() {
        #expect(throws: StartupProblem.self) {
            try DescriptorBudget.decide(configured: nil, descriptorLimit: 256, maxUpstreamConnections: 512)
        }
    }
}
