module github.com/zbauth/zbauth

go 1.26.8

require github.com/goccy/go-json v0.10.5 // indirect
