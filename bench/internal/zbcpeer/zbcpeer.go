// Package zbcpeer builds Camunda's Go client's OAuth credentials provider
// (github.com/camunda/zeebe/clients/go/v8, zbc) for the dev cluster.
package zbcpeer

import (
	"os"
	"path/filepath"

	"github.com/camunda/zeebe/clients/go/v8/pkg/zbc"
	"github.com/zbauth/zbauth/bench/internal/harness"
)

// New returns Camunda's Go client's OAuth credentials provider with its
// YAML token cache in a fresh file under dir (never ~/.camunda).
func New(c *harness.Cluster, dir string) (*zbc.OAuthCredentialsProvider, error) {
	os.Unsetenv(zbc.OAuthCachePathEnvVar)
	f, err := os.CreateTemp(dir, "zbc-credentials-*.yaml")
	if err != nil {
		return nil, err
	}
	f.Close()
	cache, err := zbc.NewOAuthYamlCredentialsCache(filepath.Clean(f.Name()))
	if err != nil {
		return nil, err
	}
	return zbc.NewOAuthCredentialsProvider(&zbc.OAuthProviderConfig{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Audience: c.Audience,
		AuthorizationServerURL: c.TokenURL, Cache: cache,
	})
}
