// Package core authenticates to a Camunda 8 cluster with the OAuth 2.0
// client credentials flow (RFC 6749 §4.4) and calls its REST API, such as
// the topology endpoint (GET /v1/topology).
//
// A Config holds the client ID and secret, the token endpoint, audience
// and scope, and the cluster's REST address; what it leaves empty comes
// from the environment variables Camunda documents (the Env* constants),
// then from the Camunda SaaS defaults. ParseConfigJSON reads its JSON form.
// New validates it and returns a Client, which makes no request until one
// is needed:
//
//	c, err := core.New(core.Config{}) // all from ZEEBE_* variables
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	topo, err := c.Topology(ctx)
//
// The Client fetches an access token when first asked, caches it (in
// memory; also on disk, shared between processes, with
// Config.TokenCacheDir) and refreshes it in the background before it
// expires. Token returns it, TryToken without ever waiting; Do sends an
// authenticated request to the REST API, with a new token once on a 401;
// Topology and TopologyJSON fetch the cluster's topology.
//
// Every error is an *Error, whose Kind says what failed. No error, log
// message or String form holds the client secret or a token.
//
// The C library, the WebAssembly plugin, the Python and Node bindings and
// the zbauth command are built on this package.
package core
