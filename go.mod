module github.com/zbauth/zbauth

go 1.26.8

require (
	github.com/goccy/go-json v0.10.5
	github.com/tetratelabs/wazero v1.12.0
	golang.org/x/sys v0.44.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require golang.org/x/crypto v0.11.0 // indirect
