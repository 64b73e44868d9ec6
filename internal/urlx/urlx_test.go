package urlx_test

import (
	"testing"

	"github.com/zbauth/zbauth/internal/urlx"
)

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.255.0.9": true,
		"::1": true, "::ffff:127.0.0.1": true,
		"": false, "example.com": false, "localhost.example.com": false, "10.0.0.1": false, "0.0.0.0": false,
		"::": false, "128.0.0.1": false, "evil-localhost": false,
		// Names a resolver answers for (DNS: whoever answers gets the secret).
		"localhost.": false, "LOCALHOST.": false, "a.localhost": false, "dev.localhost.": false, "127.1": false,
		"127.0.0.1.nip.io": false,
	} {
		if got := urlx.IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
