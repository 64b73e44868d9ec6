package core

// What the tests of package core_test reach beyond the public API.
var (
	DialLocalhost   = dialLocalhost
	CacheKey        = cacheKey
	ParseRetryAfter = parseRetryAfter
	ParseProblem    = parseProblem
)

// MaxTokenBody caps how much of a token endpoint response is read.
const MaxTokenBody = maxTokenBody

type TokenResponse = tokenResponse

// ParseTokenResponse is parseTokenResponse with no secrets known.
func ParseTokenResponse(status int, body []byte) (TokenResponse, error) {
	return parseTokenResponse(status, body, nil)
}
