import Testing
@testable import GatewayCore

/// The language of error messages from `Accept-Language` (docs/http.md#error-bodies): Korean when asked for, English otherwise.
struct LanguageTests {
    @Test(arguments: [
        "ko", "ko-KR", "KO", "ko_KR", "ko;q=0.9, en;q=0.8", "fr, ko;q=0.5", "en;q=0.4, ko;q=0.6", " ko-KR ; q=1 ",
    ])
    func koreanWhenItIsTheBestLanguageTheGatewaySpeaks(header: String) {
        #expect(Language(acceptLanguage: header) == .korean)
    }

    @Test(arguments: [
        "en-US,ko;q=0.9", "en", "fr", "de-DE, fr;q=0.9", "*", "", "korean", "kok", "ko;q=0", "en, ko",
    ])
    func englishOtherwise(header: String) {
        #expect(Language(acceptLanguage: header) == .english)
    }

    @Test func englishWithoutTheHeader() {
        #expect(Language(acceptLanguage: nil) == .english)
    }

    @Test func qualityParameterNameIsCaseInsensitive() {
        #expect(Language(acceptLanguage: "ko;Q=0.5, en;q=0.9") == .english)
        #expect(Language(acceptLanguage: "en;Q=0.1, ko") == .korean)
    }
}
