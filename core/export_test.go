package core

import "time"

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

// SignAssertion loads cfg's private_key_jwt credential as New does and
// signs one assertion for aud.
func SignAssertion(cfg Config, aud string, now time.Time) (string, error) {
	k, err := loadAssertionKey(cfg)
	if err != nil {
		return "", err
	}
	return k.sign(cfg.ClientID, aud, now)
}

// JWTExpiry is jwtExpiry.
var JWTExpiry = jwtExpiry

// EffectiveLifetime is effectiveLifetime for a token and its expires_in.
func EffectiveLifetime(token string, expiresIn time.Duration, date string, now time.Time) (time.Duration, error) {
	return effectiveLifetime(tokenResponse{AccessToken: token, ExpiresIn: expiresIn}, date, now)
}

// DecodeCredential runs the PEM key and the PKCS#12 readers over data, as
// loadAssertionKey does with a file's contents.
func DecodeCredential(data []byte, password string) (pemErr, p12Err error) {
	if key, pss, _, err := decodePEMKey(data); err == nil {
		_, pemErr = newAssertionKey(key, pss, nil)
	} else {
		pemErr = err
	}
	if key, cert, err := decodeKeystore(data, password, "", ""); err == nil {
		_, p12Err = newAssertionKey(key, false, cert)
	} else {
		p12Err = err
	}
	return pemErr, p12Err
}
